#pragma once

#include <cstddef>
#include <new>
#include <type_traits>
#include <utility>

namespace taskpool::daemon::base {

template <class Signature, std::size_t Size = 48>
class Callback;

/// A move-only std::function that keeps a callable of up to `Size` bytes in
/// itself. A job's path hands a callback from the handler to the scheduler to the
/// store and back, each capturing a reply or a pointer or two; std::function
/// allocates for every callable that is not trivially copyable, and a reply is
/// not (it holds a shared_ptr). Larger callables go to the heap, as there.
template <class R, class... Args, std::size_t Size>
class Callback<R(Args...), Size> {
public:
    Callback() = default;
    Callback(std::nullptr_t) {}  // NOLINT(google-explicit-constructor)

    template <class F, class D = std::decay_t<F>,
              class = std::enable_if_t<!std::is_same_v<D, Callback> &&
                                       std::is_invocable_r_v<R, D&, Args...>>>
    Callback(F&& f) {  // NOLINT(google-explicit-constructor)
        if constexpr (fits<D>) {
            new (storage_) D(std::forward<F>(f));
            ops_ = &inline_ops<D>;
        } else {
            *reinterpret_cast<D**>(storage_) = new D(std::forward<F>(f));
            ops_ = &heap_ops<D>;
        }
    }

    Callback(Callback&& o) noexcept { take(o); }
    Callback& operator=(Callback&& o) noexcept {
        if (this != &o) {
            reset();
            take(o);
        }
        return *this;
    }
    Callback& operator=(std::nullptr_t) {
        reset();
        return *this;
    }
    ~Callback() { reset(); }

    explicit operator bool() const { return ops_ != nullptr; }
    R operator()(Args... args) const { return ops_->call(storage_, std::forward<Args>(args)...); }

private:
    struct Ops {
        R (*call)(void* self, Args&&... args);
        void (*move)(void* from, void* to);  // and destroys `from`
        void (*destroy)(void* self);
    };

    template <class D>
    static constexpr bool fits =
        sizeof(D) <= Size &&
        alignof(D) <= alignof(std::max_align_t) && std::is_nothrow_move_constructible_v<D>;

    template <class D>
    static constexpr Ops inline_ops = {
        [](void* self, Args&&... args) -> R {
            return (*static_cast<D*>(self))(std::forward<Args>(args)...);
        },
        [](void* from, void* to) {
            new (to) D(std::move(*static_cast<D*>(from)));
            static_cast<D*>(from)->~D();
        },
        [](void* self) { static_cast<D*>(self)->~D(); },
    };
    template <class D>
    static constexpr Ops heap_ops = {
        [](void* self, Args&&... args) -> R {
            return (**static_cast<D**>(self))(std::forward<Args>(args)...);
        },
        [](void* from, void* to) { *static_cast<D**>(to) = *static_cast<D**>(from); },
        [](void* self) { delete *static_cast<D**>(self); },
    };

    void take(Callback& o) noexcept {
        ops_ = std::exchange(o.ops_, nullptr);
        if (ops_ != nullptr) {
            ops_->move(o.storage_, storage_);
        }
    }
    void reset() {
        if (ops_ != nullptr) {
            std::exchange(ops_, nullptr)->destroy(storage_);
        }
    }

    alignas(std::max_align_t) mutable unsigned char storage_[Size];
    const Ops* ops_ = nullptr;
};

}  // namespace taskpool::daemon::base
