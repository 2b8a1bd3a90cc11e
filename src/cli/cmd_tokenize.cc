// `sdxl-tigris tokenize --model DIR [--tokenizer 1|2] [--tokens] [--no-pad] [--jsonl] [TEXT]`:
// prints the CLIP token ids SDXL feeds its text encoders (BOS + ids + EOS, truncated and padded to
// 77 like diffusers' encode_prompt). With --jsonl, reads one JSON string per stdin line and
// prints one JSON array of ids per line (used by the parity tests).
#include <nlohmann/json.hpp>

#include <cstdio>
#include <filesystem>
#include <iostream>
#include <string>

#include "cli/commands.h"
#include "sdxl/clip_tokenizer.h"

namespace sdxl::cli {
namespace {

struct TokenizeArgs {
  std::string model;
  int tokenizer = 1;
  bool tokens = false;
  bool no_pad = false;
  bool jsonl = false;
  std::string text;
};

// DIR may be the pipeline folder (tokenizer/, tokenizer_2/) or a tokenizer folder itself.
std::filesystem::path TokenizerDir(const TokenizeArgs& a) {
  namespace fs = std::filesystem;
  const fs::path root(a.model);
  const fs::path sub = root / (a.tokenizer == 2 ? "tokenizer_2" : "tokenizer");
  if (fs::is_directory(sub)) return sub;
  if (fs::exists(root / "vocab.json") || fs::exists(root / "tokenizer.json")) return root;
  return sub;  // Load reports it missing, with the path
}

int RunTokenize(const TokenizeArgs& a) {
  auto tok = sdxl::ClipTokenizer::Load(TokenizerDir(a));
  if (!tok.ok()) return ReportStatus(tok.status());
  auto encode = [&](const std::string& text) {
    return a.no_pad ? tok->EncodeForModel(text, /*pad=*/false) : tok->EncodeForModel(text);
  };
  if (a.jsonl) {
    std::string line;
    size_t lineno = 0;
    while (std::getline(std::cin, line)) {
      ++lineno;
      std::string text;
      try {
        text = nlohmann::json::parse(line).get<std::string>();
      } catch (const std::exception& e) {
        return ReportStatus(core::InvalidArgument("stdin line " + std::to_string(lineno) +
                                                  " is not a JSON string: " + e.what()));
      }
      const auto ids = encode(text);
      std::string out = nlohmann::json(ids).dump();
      std::fwrite(out.data(), 1, out.size(), stdout);
      std::fputc('\n', stdout);
    }
    return 0;
  }
  const auto ids = encode(a.text);
  if (a.tokens) {
    const auto names = tok->IdsToTokens(ids);
    for (size_t i = 0; i < ids.size(); ++i) std::printf("%d\t%s\n", ids[i], names[i].c_str());
    return 0;
  }
  for (size_t i = 0; i < ids.size(); ++i) std::printf(i ? " %d" : "%d", ids[i]);
  std::printf("\n");
  return 0;
}

}  // namespace

void AddTokenizeCommand(CLI::App& app, CliContext& ctx, Action* run) {
  auto args = std::make_shared<TokenizeArgs>();
  auto* cmd = app.add_subcommand("tokenize", "Print the CLIP token ids of a prompt");
  cmd->add_option("--model", args->model,
                  "Diffusers pipeline folder (with tokenizer/ and tokenizer_2/) or a tokenizer "
                  "folder")
      ->required();
  cmd->add_option("--tokenizer", args->tokenizer, "1 = tokenizer/ (CLIP-L), 2 = tokenizer_2/")
      ->check(CLI::IsMember({1, 2}));
  cmd->add_flag("--tokens", args->tokens, "Print one 'id<TAB>token' line per token");
  cmd->add_flag("--no-pad", args->no_pad, "Do not pad to model_max_length (still truncates)");
  cmd->add_flag("--jsonl", args->jsonl,
                "Read one JSON string per stdin line, print one JSON id array per line");
  // "" is a prompt (the seed's default one): only a missing TEXT is an error.
  CLI::Option* text = cmd->add_option("text", args->text, "The prompt (\"\" is the empty prompt)");
  cmd->callback([run, args, text] {
    *run = [args, given = text->count() > 0] {
      if (!args->jsonl && !given) {
        std::fprintf(stderr, "sdxl-tigris: tokenize needs TEXT (or --jsonl with stdin)\n");
        return 2;
      }
      return RunTokenize(*args);
    };
  });
  (void)ctx;
}

}  // namespace sdxl::cli
