#pragma once

namespace taskpool::test {

/// Built with AddressSanitizer or ThreadSanitizer: they reserve terabytes of
/// address space and hold freed memory in quarantine, so limits on address space
/// and measures of resident memory do not mean what they mean in a real build.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
inline constexpr bool memory_is_instrumented = true;
#else
inline constexpr bool memory_is_instrumented = false;
#endif

/// How much longer a liveness bound may be in such a build: ThreadSanitizer runs
/// the daemon several times slower, and a big reply takes seconds to render.
inline constexpr int instrumented_slowdown = memory_is_instrumented ? 5 : 1;

}  // namespace taskpool::test
