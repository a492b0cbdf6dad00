// The portal's static files (services/web/assets/), embedded into webd at
// build time (services/web/CMakeLists.txt writes assets_embedded.cpp), so
// nothing is fetched from anywhere else: no CDN, no files next to the binary.
#pragma once

#include <optional>
#include <string_view>

namespace postline::web::portal {

struct Asset {
  std::string_view content_type;
  std::string_view body;
};

// The asset at `path` ("/assets/portal.css"); nullopt when there is none.
std::optional<Asset> find_asset(std::string_view path);

}  // namespace postline::web::portal
