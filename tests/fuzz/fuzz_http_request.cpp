// libFuzzer target: RequestReader on any bytes, fed in chunks of any size, and
// every request it yields routed. Nothing it buffers outgrows its limits.
#include <cstdint>
#include <string_view>

#include "daemon/http/request_reader.hpp"
#include "daemon/http/routes.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using taskpool::daemon::http::RequestReader;
    using Status = RequestReader::Status;
    if (size == 0) {
        return 0;
    }
    std::size_t chunk = data[0] % 64 + 1;  // the first byte picks how the rest is split
    std::string_view input(reinterpret_cast<const char*>(data + 1), size - 1);
    RequestReader reader({.max_body_bytes = 1024, .max_head_bytes = 512, .max_headers = 16});
    for (std::size_t at = 0; at < input.size(); at += chunk) {
        reader.feed(input.substr(at, chunk));
        for (auto status = reader.next(); status != Status::incomplete; status = reader.next()) {
            if (status == Status::error) {
                return 0;
            }
            auto& request = reader.request();
            if (request.body.size() > 1024 || request.target.size() > 512) {
                __builtin_trap();
            }
            if (status == Status::request) {
                (void)taskpool::daemon::http::route(request);
            }
        }
    }
    return 0;
}
