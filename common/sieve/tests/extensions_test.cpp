#include <gtest/gtest.h>
#include "common/sieve/sieve.h"
