# asio::asio: libasio-dev ships headers only, with no CMake config or pkg-config file.
find_path(ASIO_INCLUDE_DIR asio.hpp REQUIRED)
find_package(Threads REQUIRED)
add_library(asio::asio INTERFACE IMPORTED)
set_target_properties(asio::asio PROPERTIES
    INTERFACE_INCLUDE_DIRECTORIES "${ASIO_INCLUDE_DIR}"
    # Asio detects aligned_alloc from a libstdc++ macro, so a file that includes Asio
    # before any standard header gets operator new where the others get
    # aligned_alloc, and frees one with the other. Decide it once for all.
    INTERFACE_COMPILE_DEFINITIONS "ASIO_STANDALONE;ASIO_NO_DEPRECATED;ASIO_HAS_STD_ALIGNED_ALLOC=1"
    INTERFACE_LINK_LIBRARIES Threads::Threads)
