#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace taskpool::proto {

/// Splits a byte stream into NDJSON lines (PROTOCOL.md section 1).
///
/// Feed it bytes as they arrive, then call next() until it reports `incomplete`.
/// A CR before the LF is dropped; blank lines are skipped. A line longer than
/// `max_line_bytes` is reported as `too_large` as soon as that many bytes of it have
/// arrived, before more of it is buffered; the state is then final, since the
/// protocol closes such a connection. Pure: no I/O. Not thread-safe.
class LineFramer {
public:
    enum class Status { line, incomplete, too_large };

    struct Frame {
        Status status;
        /// The line without its terminator; valid until the next feed().
        std::string_view line;
    };

    explicit LineFramer(std::size_t max_line_bytes) : max_line_bytes_(max_line_bytes) {}

    void feed(std::string_view bytes);
    Frame next();
    /// Forgets the lines next() has returned (their views die), and gives back the
    /// memory a huge one took. feed() does it first; a reader that holds on to its
    /// buffer while it works on a line (a worker) calls it when done with the line.
    void discard_taken();

    /// True while bytes of an unfinished line are buffered (a request has begun).
    bool has_partial() const { return buf_.size() > start_; }
    /// Bytes of the unfinished line (and of lines not yet taken by next()).
    std::size_t partial_bytes() const { return buf_.size() - start_; }
    bool too_large() const { return too_large_; }

private:
    /// Drops the lines taken; gives back the memory of a buffer a huge line grew.
    void compact();

    std::string buf_;
    std::size_t start_ = 0;  // first byte not yet returned
    std::size_t scan_ = 0;   // bytes before this hold no LF (from start_)
    std::size_t max_line_bytes_;
    bool too_large_ = false;
};

}  // namespace taskpool::proto
