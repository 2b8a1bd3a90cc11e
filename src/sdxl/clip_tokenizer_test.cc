#include "sdxl/clip_tokenizer.h"

#include <gtest/gtest.h>

#include <fstream>
#include <random>

namespace sdxl::sdxl {
namespace {

namespace fs = std::filesystem;

// transformers' test_tokenization_clip.py::test_full_tokenizer vocabulary, plus the two CLIP
// specials the tokenizer requires.
ClipTokenizer TinyTokenizer() {
  std::vector<std::string> tokens = {"l",
                                     "o",
                                     "w",
                                     "e",
                                     "r",
                                     "s",
                                     "t",
                                     "i",
                                     "d",
                                     "n",
                                     "lo",
                                     "l</w>",
                                     "w</w>",
                                     "r</w>",
                                     "t</w>",
                                     "low</w>",
                                     "er</w>",
                                     "lowest</w>",
                                     "newer</w>",
                                     "wider",
                                     "<unk>",
                                     "<|startoftext|>",
                                     "<|endoftext|>"};
  std::vector<std::pair<std::string, int>> vocab;
  for (size_t i = 0; i < tokens.size(); ++i) vocab.emplace_back(tokens[i], static_cast<int>(i));
  auto tok = ClipTokenizer::FromVocab(vocab, {{"l", "o"}, {"lo", "w</w>"}, {"e", "r</w>"}});
  EXPECT_TRUE(tok.ok()) << tok.status().message();
  return std::move(tok).value();
}

TEST(ClipTokenizerTest, TransformersFullTokenizerOracle) {
  ClipTokenizer tok = TinyTokenizer();
  const std::vector<int32_t> ids = tok.Encode("lower newer");
  EXPECT_EQ(ids, (std::vector<int32_t>{10, 2, 16, 9, 3, 2, 16}));
  EXPECT_EQ(tok.IdsToTokens(ids),
            (std::vector<std::string>{"lo", "w", "er</w>", "n", "e", "w", "er</w>"}));
  // Case and whitespace are normalised away.
  EXPECT_EQ(tok.Encode("  LOWER\t\n  NEWER "), ids);
  EXPECT_EQ(tok.bos_id(), 21);
  EXPECT_EQ(tok.eos_id(), 22);
  EXPECT_EQ(tok.pad_id(), 22);
}

TEST(ClipTokenizerTest, UnknownSymbolsMapToUnk) {
  ClipTokenizer tok = TinyTokenizer();
  // 'z' is not in the tiny vocab: transformers maps it to the unk token (<|endoftext|> here).
  EXPECT_EQ(tok.Encode("z"), (std::vector<int32_t>{22}));
}

// A tokenizer folder with the 512 byte-level symbols and a few merges, written to disk.
class ByteLevelFolder : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("clip_tok_test_" + std::to_string(std::random_device{}()));
    fs::create_directories(dir_);
    // bytes_to_unicode order, as in openai/CLIP.
    std::vector<int> bs;
    for (int b = '!'; b <= '~'; ++b) bs.push_back(b);
    for (int b = 0xA1; b <= 0xAC; ++b) bs.push_back(b);
    for (int b = 0xAE; b <= 0xFF; ++b) bs.push_back(b);
    std::vector<int> cs = bs;
    int n = 0;
    for (int b = 0; b < 256; ++b) {
      if (std::find(bs.begin(), bs.end(), b) == bs.end()) {
        bs.push_back(b);
        cs.push_back(256 + n++);
      }
    }
    auto utf8 = [](int cp) {
      std::string s;
      if (cp < 0x80) {
        s.push_back(static_cast<char>(cp));
      } else {
        s.push_back(static_cast<char>(0xC0 | (cp >> 6)));
        s.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
      }
      return s;
    };
    std::vector<std::string> tokens;
    for (int c : cs) tokens.push_back(utf8(c));
    for (int c : cs) tokens.push_back(utf8(c) + "</w>");
    tokens.push_back("ca");
    tokens.push_back("cat</w>");
    tokens.push_back("<|startoftext|>");
    tokens.push_back("<|endoftext|>");
    std::ofstream v(dir_ / "vocab.json");
    v << "{";
    for (size_t i = 0; i < tokens.size(); ++i) {
      std::string esc;
      for (char ch : tokens[i]) {
        if (ch == '"' || ch == '\\') esc.push_back('\\');
        esc.push_back(ch);
      }
      v << (i ? "," : "") << "\"" << esc << "\":" << i;
    }
    v << "}";
    std::ofstream m(dir_ / "merges.txt");
    m << "#version: 0.2\nc a\nca t</w>\n";
    cat_id_ = 513;
    bang_id_ = 0;
  }
  void TearDown() override { fs::remove_all(dir_); }

  void WriteConfig(const std::string& json) {
    std::ofstream c(dir_ / "tokenizer_config.json");
    c << json;
  }

  fs::path dir_;
  int32_t cat_id_ = 0;
  int32_t bang_id_ = 0;
};

TEST_F(ByteLevelFolder, LoadsFolderAndPadsWithEndOfText) {
  auto tok = ClipTokenizer::Load(dir_);
  ASSERT_TRUE(tok.ok()) << tok.status().message();
  EXPECT_EQ(tok->vocab_size(), 516u);
  EXPECT_EQ(tok->model_max_length(), 77);
  const auto ids = tok->EncodeForModel("a cat!");
  ASSERT_EQ(ids.size(), 77u);
  EXPECT_EQ(ids[0], 514);       // <|startoftext|>
  EXPECT_EQ(ids[1], 256 + 64);  // "a</w>": 'a' is byte-level index 64
  EXPECT_EQ(ids[2], cat_id_);
  EXPECT_EQ(ids[3], 256 + bang_id_);  // "!</w>"
  EXPECT_EQ(ids[4], 515);             // <|endoftext|>
  for (size_t i = 5; i < 77; ++i) EXPECT_EQ(ids[i], 515);
  EXPECT_EQ(tok->EncodeForModel("a cat", /*pad=*/false).size(), 4u);
}

TEST_F(ByteLevelFolder, BangPadTokenIsSpecialLikeTransformers) {
  WriteConfig(R"({"pad_token": {"content": "!", "special": true}, "model_max_length": 8})");
  auto tok = ClipTokenizer::Load(dir_);
  ASSERT_TRUE(tok.ok()) << tok.status().message();
  EXPECT_EQ(tok->pad_id(), 0);
  EXPECT_EQ(tok->model_max_length(), 8);
  // "!" is an added special token: split out of the raw text, id 0 each (diffusers #4153).
  EXPECT_EQ(tok->Encode("cat!!"), (std::vector<int32_t>{cat_id_, 0, 0}));
  // Truncation keeps BOS + 6 content ids + EOS.
  const auto ids = tok->EncodeForModel("cat cat cat cat cat cat cat cat");
  EXPECT_EQ(ids,
            (std::vector<int32_t>{514, cat_id_, cat_id_, cat_id_, cat_id_, cat_id_, cat_id_, 515}));
  const auto short_ids = tok->EncodeForModel("cat");
  EXPECT_EQ(short_ids, (std::vector<int32_t>{514, cat_id_, 515, 0, 0, 0, 0, 0}));
}

TEST_F(ByteLevelFolder, SplitsDigitsContractionsAndPunctuation) {
  auto tok = ClipTokenizer::Load(dir_);
  ASSERT_TRUE(tok.ok());
  // Digits are one token each, "'s" splits off, punctuation runs stay together.
  const auto tokens = tok->IdsToTokens(tok->Encode("12 it's ?!"));
  EXPECT_EQ(tokens,
            (std::vector<std::string>{"1</w>", "2</w>", "i", "t</w>", "'", "s</w>", "?", "!</w>"}));
}

TEST_F(ByteLevelFolder, NfcAndUnicodeLowercase) {
  auto tok = ClipTokenizer::Load(dir_);
  ASSERT_TRUE(tok.ok());
  // Combining tilde vs precomposed: identical after NFC. Uppercase non-ASCII is lowercased.
  EXPECT_EQ(tok->Encode("xa\xCC\x83y"), tok->Encode("x\xC3\xA3y"));
  EXPECT_EQ(tok->Encode("\xC3\x83"), tok->Encode("\xC3\xA3"));  // Ã -> ã
  // U+00A0 (no-break space) is whitespace; U+200B (zero width space) is not.
  EXPECT_EQ(tok->Encode("a\xC2\xA0"
                        "b"),
            tok->Encode("a b"));
  EXPECT_NE(tok->Encode("a\xE2\x80\x8B"
                        "b"),
            tok->Encode("a b"));
}

TEST(ClipTokenizerLoadTest, MissingFolderSaysWhatToDo) {
  auto tok = ClipTokenizer::Load("/nonexistent/tokenizer");
  ASSERT_FALSE(tok.ok());
  EXPECT_EQ(tok.status().code(), core::Code::kNotFound);
  EXPECT_NE(tok.status().message().find("/nonexistent/tokenizer"), std::string::npos);
}

TEST_F(ByteLevelFolder, CorruptMergesIsDataLoss) {
  std::ofstream(dir_ / "merges.txt") << "#version: 0.2\nc a\nbroken\n";
  auto tok = ClipTokenizer::Load(dir_);
  ASSERT_FALSE(tok.ok());
  EXPECT_EQ(tok.status().code(), core::Code::kDataLoss);
  EXPECT_NE(tok.status().message().find("line 3"), std::string::npos);
}

// Found by fuzz/clip_tokenizer_fuzz.cc: a vocab.json id far past the vocabulary's size sized the
// id table by it (2147483647 + 1 overflowed; 200000000 allocated 6.4 GB).
TEST(ClipTokenizerTest, RefusesIdsOutsideTheVocabulary) {
  for (int id : {2147483647, 200000000, 2}) {
    auto tok = ClipTokenizer::FromVocab({{"<|startoftext|>", 0}, {"<|endoftext|>", id}}, {});
    ASSERT_FALSE(tok.ok()) << id;
    EXPECT_EQ(tok.status().code(), core::Code::kInvalidArgument);
    EXPECT_NE(tok.status().message().find(std::to_string(id)), std::string::npos);
  }
  EXPECT_TRUE(ClipTokenizer::FromVocab({{"<|startoftext|>", 0}, {"<|endoftext|>", 1}}, {}).ok());
}

// Found by fuzz/clip_tokenizer_fuzz.cc: a tokenizer.json id that is not an integer (1.5e30) went
// through get<int>() (undefined behaviour); it is now a DataLoss naming the token.
TEST_F(ByteLevelFolder, TokenizerJsonWithNonIntegerIdIsDataLoss) {
  fs::remove(dir_ / "vocab.json");
  fs::remove(dir_ / "merges.txt");
  std::ofstream(dir_ / "tokenizer.json")
      << R"({"model":{"vocab":{"<|startoftext|>":0,"<|endoftext|>":1.5e30},"merges":[]}})";
  auto tok = ClipTokenizer::Load(dir_);
  ASSERT_FALSE(tok.ok());
  EXPECT_EQ(tok.status().code(), core::Code::kDataLoss);
  EXPECT_NE(tok.status().message().find("<|endoftext|>"), std::string::npos);
}

}  // namespace
}  // namespace sdxl::sdxl
