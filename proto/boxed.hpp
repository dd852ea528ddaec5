#pragma once

#include <memory>
#include <optional>
#include <utility>

namespace taskpool::proto {

/// An optional value kept on the heap: a pointer's size when empty, where
/// std::optional<T> takes sizeof(T) and more. For the fields of a job that most jobs
/// leave empty (a queued job has no result, error or worker; few have a batch, a
/// key or a callback), since the daemon keeps jobs by the million. Copies copy the
/// value; the interface is std::optional's, as far as it is used.
template <class T>
class Boxed {
public:
    Boxed() = default;
    Boxed(std::nullopt_t) {}  // NOLINT(google-explicit-constructor)
    Boxed(T value)
        : p_(std::make_unique<T>(std::move(value))) {}  // NOLINT(google-explicit-constructor)
    Boxed(std::optional<T> value) {                     // NOLINT(google-explicit-constructor)
        if (value) {
            p_ = std::make_unique<T>(std::move(*value));
        }
    }
    Boxed(const Boxed& o) : p_(o.p_ ? std::make_unique<T>(*o.p_) : nullptr) {}
    Boxed(Boxed&&) noexcept = default;
    Boxed& operator=(const Boxed& o) {
        if (this != &o) {
            p_ = o.p_ ? std::make_unique<T>(*o.p_) : nullptr;
        }
        return *this;
    }
    Boxed& operator=(Boxed&&) noexcept = default;
    ~Boxed() = default;

    bool has_value() const { return p_ != nullptr; }
    explicit operator bool() const { return has_value(); }

    T& operator*() { return *p_; }
    const T& operator*() const { return *p_; }
    T* operator->() { return p_.get(); }
    const T* operator->() const { return p_.get(); }

    template <class U>
    T value_or(U&& fallback) const {
        return p_ ? *p_ : static_cast<T>(std::forward<U>(fallback));
    }

    void reset() { p_.reset(); }

    friend bool operator==(const Boxed& a, const Boxed& b) {
        return a.has_value() == b.has_value() && (!a.has_value() || *a == *b);
    }

private:
    std::unique_ptr<T> p_;
};

/// An optional value that its copies share and no one changes: for what many jobs
/// hold alike (the worker that ran them), made once and held by each at the cost
/// of a pointer and its count. Compared by value.
template <class T>
class Shared {
public:
    Shared() = default;
    Shared(std::nullopt_t) {}  // NOLINT(google-explicit-constructor)
    Shared(T value)            // NOLINT(google-explicit-constructor)
        : p_(std::make_shared<const T>(std::move(value))) {}

    bool has_value() const { return p_ != nullptr; }
    explicit operator bool() const { return has_value(); }
    const T& operator*() const { return *p_; }
    const T* operator->() const { return p_.get(); }
    void reset() { p_.reset(); }

    friend bool operator==(const Shared& a, const Shared& b) {
        return a.has_value() == b.has_value() && (!a.has_value() || *a == *b);
    }

private:
    std::shared_ptr<const T> p_;
};

}  // namespace taskpool::proto
