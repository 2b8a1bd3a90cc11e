// sdxl_load_driver: times the cold-start loader moving a UNet's weights from local files into
// device memory (tools/gpu-check.sh's "local files -> GPU" line).
//
//   sdxl_load_driver MODEL_DIR DEVICE DTYPE [--cold]
//       DEVICE and DTYPE as `generate --device/--dtype` take them (request_shaping.h). --cold: drop
//       the weight files from the page cache first (posix_fadvise DONTNEED: clean pages only, no
//       root needed), so the disk is read.
//
// Builds MODEL_DIR/unet on the device with LoadUNet (allocation, the weights streamed in by the
// module loader with the $SDXL_CUDA_STAGING path, fused projections) and prints one line:
//   LOAD bytes=N seconds=S gbps=G staging=ring|tensor|none host_staging_mib=M checksum=C
// gbps = weight bytes / seconds (1e9 bytes); the time excludes CUDA's initialisation; checksum is
// the float64 sum of every parameter, to compare the staging paths.
#include <fcntl.h>
#include <unistd.h>

#include <torch/cuda.h>

#include <chrono>
#include <cstdio>
#include <string>

#include "sdxl/request_shaping.h"
#include "sdxl/staging_ring.h"
#include "sdxl/torch_device.h"
#include "sdxl/unet.h"

namespace {

using namespace sdxl::sdxl;
namespace core = sdxl::core;
namespace fs = std::filesystem;

core::Status DropFromPageCache(const fs::path& file) {
  const int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return core::NotFound("cannot open " + file.string());
  const int rc = ::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
  ::close(fd);
  if (rc != 0) return core::Internal("posix_fadvise(DONTNEED) failed on " + file.string());
  return core::Status::Ok();
}

core::Status Run(int argc, char** argv) {
  const bool cold = argc == 5 && std::string(argv[4]) == "--cold";
  if (argc != 4 && !cold) {
    return core::InvalidArgument(
        "usage: sdxl_load_driver MODEL_DIR auto|cpu|cuda auto|fp32|fp16|bf16 [--cold]");
  }
  const fs::path unet_dir = fs::path(argv[1]) / "unet";
  SDXL_ASSIGN_OR_RETURN(const DeviceKind device, ParseDevice(argv[2]));
  SDXL_ASSIGN_OR_RETURN(const ComputeDtype dtype, ParseDtype(argv[3]));
  ModelLoadOptions options;
  SDXL_ASSIGN_OR_RETURN(options.device, ResolveDevice(device));
  options.dtype = ResolveDtype(dtype, options.device);
  const bool cuda = options.device.is_cuda();
  std::string staging = "none";
  if (cuda) {
    SDXL_ASSIGN_OR_RETURN(const CudaStaging s, CudaStagingFromEnvironment());
    staging = s == CudaStaging::kRing ? "ring" : "tensor";
    torch::empty({1}, torch::TensorOptions().device(options.device));  // CUDA context, untimed
    torch::cuda::synchronize();
  }
  SDXL_ASSIGN_OR_RETURN(const auto files, FindComponentWeights(unet_dir));
  if (cold) {
    for (const auto& f : files) SDXL_RETURN_IF_ERROR(DropFromPageCache(f));
  }
  c10::InferenceMode guard;
  ModuleLoadReport report;
  const auto t0 = std::chrono::steady_clock::now();
  SDXL_ASSIGN_OR_RETURN(auto unet, LoadUNet(unet_dir, options, &report));
  if (cuda) torch::cuda::synchronize();
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  double checksum = 0;
  for (const auto& p : unet->parameters()) checksum += p.to(torch::kFloat64).sum().item<double>();
  std::printf(
      "LOAD bytes=%llu seconds=%.3f gbps=%.2f staging=%s host_staging_mib=%.0f checksum=%.17g%s\n",
      static_cast<unsigned long long>(report.bytes_read), s,
      static_cast<double>(report.bytes_read) / s / 1e9, staging.c_str(),
      static_cast<double>(report.staging_host_bytes) / (1 << 20), checksum, cold ? " cold" : "");
  return core::Status::Ok();
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const core::Status st = Run(argc, argv);
    if (!st.ok()) {
      std::fprintf(stderr, "sdxl_load_driver: %s\n", st.message().c_str());
      return 1;
    }
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "sdxl_load_driver: %s\n", e.what());
    return 1;
  }
}
