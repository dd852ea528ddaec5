#pragma once

#include <optional>
#include <string_view>

namespace taskpool::daemon::ui {

/// A file of the dashboard (/ui), built into the binary from daemon/ui/.
struct DashboardFile {
    std::string_view content;
    std::string_view type;
};

/// The file of that name (`index.html`, `app.js`, `app.css`); none for any other.
std::optional<DashboardFile> dashboard_file(std::string_view name);

/// The headers every file of the dashboard is sent with: its own scripts and
/// styles only (no inline script, nothing from elsewhere), never in a frame, its
/// types as declared, and no Referer that could carry a job id elsewhere.
inline constexpr std::string_view dashboard_headers =
    "Content-Security-Policy: default-src 'none'; script-src 'self'; style-src 'self'; "
    "img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'none'\r\n"
    "X-Frame-Options: DENY\r\n"
    "Referrer-Policy: no-referrer\r\n"
    "Cache-Control: no-cache\r\n";

}  // namespace taskpool::daemon::ui
