#include "protocol_sniffer.hpp"

#include <algorithm>
#include <array>

namespace taskpool::daemon::net {

Sniffed sniff_protocol(std::string_view first_bytes) {
    static constexpr std::array<std::string_view, 7> methods = {
        "GET ", "POST ", "PUT ", "DELETE ", "HEAD ", "OPTIONS ", "PATCH "};
    bool could_be_http = false;
    for (auto method : methods) {
        auto n = std::min(first_bytes.size(), method.size());
        if (first_bytes.substr(0, n) == method.substr(0, n)) {
            if (n == method.size()) {
                return Sniffed::http;
            }
            could_be_http = true;
        }
    }
    return could_be_http ? Sniffed::undecided : Sniffed::ndjson;
}

}  // namespace taskpool::daemon::net
