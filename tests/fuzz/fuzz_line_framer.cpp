// libFuzzer target: LineFramer on any bytes, fed in chunks of any size. A line it
// yields is never longer than the limit and holds no LF; too_large is final.
#include <cstdint>
#include <string_view>

#include "proto/line_framer.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) {
        return 0;
    }
    constexpr std::size_t max_line = 256;
    std::size_t chunk = data[0] % 64 + 1;  // the first byte picks how the rest is split
    std::string_view input(reinterpret_cast<const char*>(data + 1), size - 1);
    taskpool::proto::LineFramer framer(max_line);
    using Status = taskpool::proto::LineFramer::Status;
    for (std::size_t at = 0; at < input.size(); at += chunk) {
        framer.feed(input.substr(at, chunk));
        for (;;) {
            auto frame = framer.next();
            if (frame.status == Status::incomplete) {
                break;
            }
            if (frame.status == Status::too_large) {
                if (framer.next().status != Status::too_large) {
                    __builtin_trap();
                }
                return 0;
            }
            if (frame.line.size() > max_line || frame.line.find('\n') != std::string_view::npos) {
                __builtin_trap();
            }
        }
    }
    return 0;
}
