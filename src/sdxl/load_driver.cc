// sdxl_load_driver: times the cold-start loader moving a UNet's weights from local files into
// device memory (tools/gpu-check.sh's "local files -> GPU" line).
//
//   sdxl_load_driver MODEL_DIR DEVICE DTYPE [--cold]
//       DEVICE cpu|cuda, DTYPE fp32|fp16|bf16. --cold: drop the weight files from the page cache
//       first (posix_fadvise DONTNEED: clean pages only, no root needed), so the disk is read.
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

#include "sdxl/staging_ring.h"
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
        "usage: sdxl_load_driver MODEL_DIR cpu|cuda fp32|fp16|bf16 [--cold]");
  }
  const fs::path unet_dir = fs::path(argv[1]) / "unet";
  const std::string dev = argv[2], dt = argv[3];
  if (dev != "cpu" && dev != "cuda") return core::InvalidArgument("DEVICE: cpu or cuda");
  ModelLoadOptions options;
  options.device = dev == "cuda" ? torch::Device(torch::kCUDA, 0) : torch::Device(torch::kCPU);
  if (dt == "fp32") {
    options.dtype = torch::kFloat32;
  } else if (dt == "fp16") {
    options.dtype = torch::kFloat16;
  } else if (dt == "bf16") {
    options.dtype = torch::kBFloat16;
  } else {
    return core::InvalidArgument("DTYPE: fp32, fp16 or bf16");
  }
  std::string staging = "none";
  if (dev == "cuda") {
    if (!torch::cuda::is_available()) return core::FailedPrecondition("no CUDA device visible");
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
  if (dev == "cuda") torch::cuda::synchronize();
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
