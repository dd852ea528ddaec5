#include "line_framer.hpp"

namespace taskpool::proto {
namespace {

bool is_blank(std::string_view line) {
    return line.find_first_not_of(" \t") == std::string_view::npos;
}

// A buffer that grew past this for one line is shrunk once that line is taken.
constexpr std::size_t kept_capacity = std::size_t{1} << 20;

}  // namespace

void LineFramer::feed(std::string_view bytes) {
    if (too_large_) {
        return;
    }
    compact();
    // Buffer no more than one byte past the limit of an unfinished line: enough to
    // tell that it is too large, however much the peer sends.
    std::size_t room = max_line_bytes_ + 2;  // +2: the CR and LF that may end it
    std::size_t take = bytes.size();
    std::size_t lf = bytes.rfind('\n');
    if (lf == std::string_view::npos) {
        std::size_t partial = buf_.size();
        if (partial + take > room) {
            take = room > partial ? room - partial : 0;
        }
    } else {
        std::size_t tail = bytes.size() - lf - 1;
        if (tail > room) {
            take = lf + 1 + room;
        }
    }
    buf_.append(bytes.data(), take);
}

void LineFramer::discard_taken() {
    // Only a buffer a huge line grew is worth a copy now; a small one waits for the
    // next feed(), which moves what is left once for all the lines taken.
    if (buf_.capacity() > kept_capacity) {
        compact();
    }
}

void LineFramer::compact() {
    if (start_ > 0) {
        buf_.erase(0, start_);
        start_ = 0;
    }
    if (buf_.capacity() > kept_capacity && buf_.size() <= kept_capacity / 2) {
        buf_.shrink_to_fit();
    }
}

LineFramer::Frame LineFramer::next() {
    while (!too_large_) {
        std::size_t lf = buf_.find('\n', start_ + scan_);
        if (lf == std::string::npos) {
            scan_ = buf_.size() - start_;
            // An unfinished line of max+1 bytes (a CR may still be dropped) is over.
            std::size_t partial = scan_;
            if (partial > max_line_bytes_ + 1 ||
                (partial == max_line_bytes_ + 1 && buf_.back() != '\r')) {
                too_large_ = true;
                break;
            }
            return {Status::incomplete, {}};
        }
        std::string_view line(buf_.data() + start_, lf - start_);
        start_ = lf + 1;
        scan_ = 0;
        if (!line.empty() && line.back() == '\r') {
            line.remove_suffix(1);
        }
        if (line.size() > max_line_bytes_) {
            too_large_ = true;
            break;
        }
        if (!is_blank(line)) {
            return {Status::line, line};
        }
    }
    return {Status::too_large, {}};
}

}  // namespace taskpool::proto
