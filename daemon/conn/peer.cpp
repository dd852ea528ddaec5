#include "peer.hpp"

namespace taskpool::daemon::conn {

void Peer::send(std::string line, Line kind) {
    if (held_.empty()) {
        write_line(std::move(line), kind);
        return;
    }
    held_bytes_ += line.size();
    held_.push_back(Place{true, std::move(line), 0, kind});
}

std::uint64_t Peer::hold_place(std::size_t expected) {
    held_bytes_ += expected;
    held_.push_back(Place{false, {}, expected});
    return first_held_ + held_.size() - 1;
}

void Peer::fill(std::uint64_t place, std::string line) {
    Place& p = held_[place - first_held_];
    held_bytes_ += line.size() - p.expected;
    p = Place{true, std::move(line), 0, Line::in_order_reply};
    while (!held_.empty() && held_.front().filled) {
        held_bytes_ -= held_.front().line.size();
        if (!held_.front().line.empty()) {
            write_line(std::move(held_.front().line), held_.front().kind);
        }
        held_.pop_front();
        ++first_held_;
    }
    held_released();
}

}  // namespace taskpool::daemon::conn
