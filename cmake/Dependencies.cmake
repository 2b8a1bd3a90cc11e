# Finds every third-party dependency once (all come from Debian packages or the PyPI torch wheel;
# see deps/apt.txt and deps/requirements.txt).
find_package(PkgConfig REQUIRED)
find_package(Threads REQUIRED)
find_package(CURL REQUIRED)
find_package(OpenSSL REQUIRED)
find_package(pugixml REQUIRED)
find_package(nlohmann_json 3 REQUIRED)
find_package(CLI11 REQUIRED)
find_package(spdlog REQUIRED)
find_package(fmt REQUIRED)
find_package(PNG REQUIRED)
find_package(JPEG REQUIRED)
find_package(ICU REQUIRED COMPONENTS uc)  # CLIP tokenizer: NFC, Unicode classes, lowercase
pkg_check_modules(WEBP REQUIRED IMPORTED_TARGET libwebp)
pkg_check_modules(XXHASH REQUIRED IMPORTED_TARGET libxxhash)
find_path(HTTPLIB_INCLUDE_DIR httplib.h REQUIRED)
# The server (src/serve) links Debian's libcpp-httplib.so: its pkg-config flags carry the
# CPPHTTPLIB_*_SUPPORT defines the library was built with, which change its class layouts.
pkg_check_modules(HTTPLIB REQUIRED IMPORTED_TARGET cpp-httplib)
if(SDXL_BUILD_TESTS)
  find_package(GTest REQUIRED)
endif()

if(SDXL_WITH_TORCH)
  # LibTorch comes from the PyPI torch wheel: ask the Python that has it where its CMake config is.
  find_package(Python3 REQUIRED COMPONENTS Interpreter)
  execute_process(
    COMMAND ${Python3_EXECUTABLE} -c
            "import torch,sys; sys.stdout.write(torch.utils.cmake_prefix_path + ';' + str(int(torch._C._GLIBCXX_USE_CXX11_ABI)))"
    OUTPUT_VARIABLE _torch_info RESULT_VARIABLE _torch_rc ERROR_QUIET)
  if(NOT _torch_rc EQUAL 0)
    message(FATAL_ERROR "SDXL_WITH_TORCH=ON but `import torch` failed for ${Python3_EXECUTABLE}. "
                        "Run `make deps`, or configure with -DSDXL_WITH_TORCH=OFF.")
  endif()
  list(GET _torch_info 0 _torch_prefix)
  list(GET _torch_info 1 SDXL_TORCH_CXX11_ABI)
  list(APPEND CMAKE_PREFIX_PATH ${_torch_prefix})
  # The wheel's TorchConfig looks for CUDA when torch was built with it; the toolkit is installed
  # on every machine (no GPU needed to build).
  if(EXISTS /usr/local/cuda/bin/nvcc AND NOT CMAKE_CUDA_COMPILER)
    set(CMAKE_CUDA_COMPILER /usr/local/cuda/bin/nvcc)
  endif()
  # CMake 3.25 knows no CUDA20 dialect; nothing here compiles CUDA sources, so pin 17.
  set(CMAKE_CUDA_STANDARD 17)
  # Skip TorchConfig's probe of installed GPUs (none on build machines): name the archs we ship.
  if(NOT DEFINED ENV{TORCH_CUDA_ARCH_LIST})
    set(ENV{TORCH_CUDA_ARCH_LIST} "8.0;8.6;8.9;9.0")
  endif()
  find_package(Torch REQUIRED)
  message(STATUS "LibTorch ${Torch_VERSION} from ${_torch_prefix} (CXX11 ABI=${SDXL_TORCH_CXX11_ABI})")
endif()
