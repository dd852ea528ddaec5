// libFuzzer target: decode_request_line on any line. A request it accepts, encoded
// again as a client would send it, decodes again.
#include <cstdint>
#include <string_view>

#include "proto/request.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace taskpool::proto;
    auto decoded = decode_request_line(std::string_view(reinterpret_cast<const char*>(data), size));
    if (!decoded.body) {
        return 0;
    }
    auto line = encode_request({decoded.id, std::move(decoded.body.value())});
    if (!decode_request_line(line).body) {
        __builtin_trap();
    }
    return 0;
}
