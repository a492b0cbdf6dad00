// Runs blocking work (libpqxx queries, synchronous gRPC calls, argon2) on a
// bounded thread pool and resumes the awaiting coroutine on its own executor.
// I/O threads never block; the pool's size bounds how much blocking work runs.
#pragma once

#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <exception>
#include <optional>
#include <type_traits>
#include <utility>
#include <variant>

namespace postline::async {

namespace asio = boost::asio;

// co_await offload(pool, [&] { return blocking_call(); });
//
// GCC 12 miscompiles a lambda *temporary* with non-trivial captures (strings,
// shared_ptrs) passed straight into a coroutine inside `co_await` (heap
// corruption seen under valgrind). Name the lambda and move it in:
//   auto work = [req = std::move(req)] { ... };
//   auto result = co_await offload(pool, std::move(work));
// Exceptions thrown by `fn` are rethrown in the coroutine.
template <typename Fn>
auto offload(asio::thread_pool& pool, Fn fn)
    -> asio::awaitable<std::invoke_result_t<Fn&>> {
  using R = std::invoke_result_t<Fn&>;
  using Result = std::conditional_t<std::is_void_v<R>, std::monostate, R>;
  auto initiate = [&pool, fn = std::move(fn)](auto handler) mutable {
    auto ex = asio::get_associated_executor(handler);
    asio::post(pool, [fn = std::move(fn), handler = std::move(handler), ex]() mutable {
      std::exception_ptr error;
      std::optional<Result> result;
      try {
        if constexpr (std::is_void_v<R>) {
          fn();
          result.emplace();
        } else {
          result.emplace(fn());
        }
      } catch (...) {
        error = std::current_exception();
      }
      asio::post(ex, [handler = std::move(handler), error, result = std::move(result)]() mutable {
        std::move(handler)(error, std::move(result));
      });
    });
  };
  // use_awaitable rethrows a non-null exception_ptr in the coroutine.
  std::optional<Result> result = co_await asio::async_initiate<
      decltype(asio::use_awaitable), void(std::exception_ptr, std::optional<Result>)>(
      std::move(initiate), asio::use_awaitable);
  if constexpr (!std::is_void_v<R>) co_return std::move(*result);
}

}  // namespace postline::async
