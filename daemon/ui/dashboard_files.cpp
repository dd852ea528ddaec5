#include "dashboard_files.hpp"

#include <array>
#include <utility>

#include "daemon/ui/dashboard_text.hpp"

namespace taskpool::daemon::ui {

std::optional<DashboardFile> dashboard_file(std::string_view name) {
    constexpr std::array files{
        std::pair{"index.html", DashboardFile{text::index_html, "text/html; charset=utf-8"}},
        std::pair{"app.js", DashboardFile{text::app_js, "text/javascript; charset=utf-8"}},
        std::pair{"app.css", DashboardFile{text::app_css, "text/css; charset=utf-8"}}};
    for (const auto& [file, found] : files) {
        if (name == file) {
            return found;
        }
    }
    return std::nullopt;
}

}  // namespace taskpool::daemon::ui
