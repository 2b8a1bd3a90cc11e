// sdxl_parity_driver: runs one engine component on tensors from a safetensors file and writes
// the outputs as safetensors, so tests/parity can compare them with diffusers.
//
//   sdxl_parity_driver unet MODEL_DIR IN OUT      IN: sample, timestep, encoder_hidden_states,
//                                                 text_embeds, time_ids -> OUT: out
//   sdxl_parity_driver vae MODEL_DIR IN OUT       IN: latents (unscaled) -> OUT: image
//   sdxl_parity_driver schedule MODEL_DIR N OUT   -> OUT: timesteps, sigmas, init_noise_sigma
#include <cstdio>
#include <string>

#include "sdxl/scheduler.h"
#include "sdxl/tensor_io.h"
#include "sdxl/unet.h"
#include "sdxl/vae.h"

namespace {

using namespace sdxl::sdxl;
namespace core = sdxl::core;

core::Result<torch::Tensor> Need(const std::map<std::string, torch::Tensor>& in,
                                 const std::string& name) {
  auto it = in.find(name);
  if (it == in.end()) return core::InvalidArgument("input file lacks tensor \"" + name + "\"");
  return it->second;
}

core::Status Run(int argc, char** argv) {
  if (argc != 5) {
    return core::InvalidArgument("usage: sdxl_parity_driver unet|vae|schedule MODEL_DIR IN|N OUT");
  }
  const std::string cmd = argv[1];
  const std::filesystem::path model = argv[2];
  c10::InferenceMode guard;
  if (cmd == "schedule") {
    SDXL_ASSIGN_OR_RETURN(auto cfg, LoadSchedulerConfig(model / "scheduler"));
    SDXL_ASSIGN_OR_RETURN(auto s, EulerSchedule::Create(cfg, std::stoi(argv[3])));
    return WriteTensors(argv[4], {{"timesteps", torch::tensor(s.timesteps())},
                                  {"sigmas", torch::tensor(s.sigmas())},
                                  {"init_noise_sigma", torch::tensor({s.init_noise_sigma()})}});
  }
  SDXL_ASSIGN_OR_RETURN(auto in, ReadTensors(argv[3]));
  if (cmd == "unet") {
    SDXL_ASSIGN_OR_RETURN(auto unet, LoadUNet(model / "unet"));
    UNetInputs u;
    SDXL_ASSIGN_OR_RETURN(u.sample, Need(in, "sample"));
    SDXL_ASSIGN_OR_RETURN(u.timestep, Need(in, "timestep"));
    SDXL_ASSIGN_OR_RETURN(u.encoder_hidden_states, Need(in, "encoder_hidden_states"));
    SDXL_ASSIGN_OR_RETURN(u.text_embeds, Need(in, "text_embeds"));
    SDXL_ASSIGN_OR_RETURN(u.time_ids, Need(in, "time_ids"));
    return WriteTensors(argv[4], {{"out", unet->forward(u)}});
  }
  if (cmd == "vae") {
    SDXL_ASSIGN_OR_RETURN(auto vae, LoadVae(model / "vae"));
    SDXL_ASSIGN_OR_RETURN(auto latents, Need(in, "latents"));
    return WriteTensors(argv[4], {{"image", vae.Decode(latents)}});
  }
  return core::InvalidArgument("unknown command \"" + cmd + "\" (unet, vae, schedule)");
}

}  // namespace

int main(int argc, char** argv) {
  try {
    auto st = Run(argc, argv);
    if (!st.ok()) {
      std::fprintf(stderr, "sdxl_parity_driver: %s\n", st.message().c_str());
      return 1;
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "sdxl_parity_driver: %s\n", e.what());
    return 1;
  }
  return 0;
}
