#include "weights/convert.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <bit>
#include <cerrno>
#include <cstring>
#include <vector>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include "core/fd_io.h"
#include "core/unique_fd.h"

namespace sdxl::weights {
namespace {

static_assert(std::endian::native == std::endian::little,
              "safetensors data is little-endian; big-endian hosts need byte swapping");

using core::Result;
using core::Status;

template <typename T>
T Load(const std::byte* p) {
  T v;
  std::memcpy(&v, p, sizeof(T));
  return v;
}

template <typename T>
void Store(std::byte* p, T v) {
  std::memcpy(p, &v, sizeof(T));
}

// Branch-free cores of the scalar conversions (so the loops below vectorize).
inline std::uint16_t BF16FromBits(std::uint32_t u) {
  const bool nan = (u & 0x7FFFFFFFu) > 0x7F800000u;
  const std::uint32_t rounded = (u + 0x7FFFu + ((u >> 16) & 1u)) >> 16;
  const std::uint32_t quiet_nan = (u >> 16) | 0x0040u;  // sign + top payload bits, quiet bit set
  return static_cast<std::uint16_t>(nan ? quiet_nan : rounded);
}

inline std::uint32_t BitsFromBF16(std::uint16_t b) {
  const std::uint32_t u = static_cast<std::uint32_t>(b) << 16;
  return ((u & 0x7FFFFFFFu) > 0x7F800000u) ? (u | 0x00400000u) : u;
}

// Hot loops for the common pairs. target_clones builds an AVX2 copy picked at load time. Not
// under TSan: the ifunc resolver runs during relocation, before the TSan runtime is up, and its
// instrumented reads crash the binary at start (tools/run-sanitizers.sh).
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__SANITIZE_THREAD__)
#define SDXL_VECTOR_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define SDXL_VECTOR_CLONES
#endif

SDXL_VECTOR_CLONES void F32ToBF16Loop(const std::byte* in, std::byte* out, size_t n) {
  for (size_t i = 0; i < n; ++i) {
    std::uint32_t u;
    std::memcpy(&u, in + 4 * i, 4);
    const std::uint16_t r = BF16FromBits(u);
    std::memcpy(out + 2 * i, &r, 2);
  }
}

SDXL_VECTOR_CLONES void BF16ToF32Loop(const std::byte* in, std::byte* out, size_t n) {
  for (size_t i = 0; i < n; ++i) {
    std::uint16_t b;
    std::memcpy(&b, in + 2 * i, 2);
    const std::uint32_t u = BitsFromBF16(b);
    std::memcpy(out + 4 * i, &u, 4);
  }
}

#if defined(__x86_64__) && defined(__GNUC__)
// F16C converts with IEEE round-to-nearest-even and quiets NaNs keeping sign and top payload
// bits: exactly the scalar F32ToF16 / F16ToF32 (checked by the unit tests on every pattern).
bool HaveF16C() {
  // Every AVX2 CPU (Intel Haswell+, AMD Zen+) has F16C, and the AVX2 check includes OS support
  // for the YMM state; clang 14 cannot test "f16c" directly.
  static const bool have = __builtin_cpu_supports("avx2");
  return have;
}

__attribute__((target("avx2,f16c"))) size_t F32ToF16F16C(const std::byte* in, std::byte* out,
                                                         size_t n) {
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 v = _mm256_loadu_ps(reinterpret_cast<const float*>(in + 4 * i));
    const __m128i h = _mm256_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(out + 2 * i), h);
  }
  return i;
}

__attribute__((target("avx2,f16c"))) size_t F16ToF32F16C(const std::byte* in, std::byte* out,
                                                         size_t n) {
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(in + 2 * i));
    _mm256_storeu_ps(reinterpret_cast<float*>(out + 4 * i), _mm256_cvtph_ps(h));
  }
  return i;
}
#endif

void F32ToF16Loop(const std::byte* in, std::byte* out, size_t n) {
  size_t i = 0;
#if defined(__x86_64__) && defined(__GNUC__)
  if (HaveF16C()) i = F32ToF16F16C(in, out, n);
#endif
  for (; i < n; ++i) {
    float f;
    std::memcpy(&f, in + 4 * i, 4);
    const std::uint16_t h = F32ToF16(f);
    std::memcpy(out + 2 * i, &h, 2);
  }
}

void F16ToF32Loop(const std::byte* in, std::byte* out, size_t n) {
  size_t i = 0;
#if defined(__x86_64__) && defined(__GNUC__)
  if (HaveF16C()) i = F16ToF32F16C(in, out, n);
#endif
  for (; i < n; ++i) {
    std::uint16_t h;
    std::memcpy(&h, in + 2 * i, 2);
    const float f = F16ToF32(h);
    std::memcpy(out + 4 * i, &f, 4);
  }
}

// Element value as float (F64 goes through float exactly like torch's c10 casts).
template <DType kFrom>
float ReadAsF32(const std::byte* p) {
  if constexpr (kFrom == DType::kF32) return Load<float>(p);
  if constexpr (kFrom == DType::kF16) return F16ToF32(Load<std::uint16_t>(p));
  if constexpr (kFrom == DType::kBF16) return BF16ToF32(Load<std::uint16_t>(p));
  if constexpr (kFrom == DType::kF64) return static_cast<float>(Load<double>(p));
}

template <DType kTo>
void WriteFromF32(std::byte* p, float v) {
  if constexpr (kTo == DType::kF32) Store<float>(p, v);
  if constexpr (kTo == DType::kF16) Store<std::uint16_t>(p, F32ToF16(v));
  if constexpr (kTo == DType::kBF16) Store<std::uint16_t>(p, F32ToBF16(v));
  if constexpr (kTo == DType::kF64) Store<double>(p, static_cast<double>(v));
}

constexpr size_t ElemSize(DType d) { return d == DType::kF64 ? 8 : d == DType::kF32 ? 4 : 2; }

template <DType kFrom, DType kTo>
void ConvertLoop(const std::byte* in, std::byte* out, size_t n) {
  constexpr size_t kIn = ElemSize(kFrom), kOut = ElemSize(kTo);
  for (size_t i = 0; i < n; ++i) WriteFromF32<kTo>(out + i * kOut, ReadAsF32<kFrom>(in + i * kIn));
}

template <DType kFrom>
void ConvertFrom(DType to, const std::byte* in, std::byte* out, size_t n) {
  switch (to) {
    case DType::kF32:
      return ConvertLoop<kFrom, DType::kF32>(in, out, n);
    case DType::kF16:
      return ConvertLoop<kFrom, DType::kF16>(in, out, n);
    case DType::kBF16:
      return ConvertLoop<kFrom, DType::kBF16>(in, out, n);
    default:
      return ConvertLoop<kFrom, DType::kF64>(in, out, n);
  }
}

void ConvertRaw(DType from, DType to, const std::byte* in, std::byte* out, size_t n) {
  if (from == to) {
    std::memcpy(out, in, n * ElemSize(from));
    return;
  }
  if (from == DType::kF32 && to == DType::kBF16) return F32ToBF16Loop(in, out, n);
  if (from == DType::kBF16 && to == DType::kF32) return BF16ToF32Loop(in, out, n);
  if (from == DType::kF32 && to == DType::kF16) return F32ToF16Loop(in, out, n);
  if (from == DType::kF16 && to == DType::kF32) return F16ToF32Loop(in, out, n);
  switch (from) {
    case DType::kF32:
      return ConvertFrom<DType::kF32>(to, in, out, n);
    case DType::kF16:
      return ConvertFrom<DType::kF16>(to, in, out, n);
    case DType::kBF16:
      return ConvertFrom<DType::kBF16>(to, in, out, n);
    default:
      if (to == DType::kF32 || to == DType::kF16 || to == DType::kBF16) {
        return ConvertFrom<DType::kF64>(to, in, out, n);
      }
  }
}

Status PreadAll(int fd, std::byte* dst, size_t size, std::uint64_t offset,
                const std::filesystem::path& path) {
  const core::IoResult r = core::PreadFull(fd, dst, size, offset);
  if (!r.ok())
    return core::DataLoss("read error in " + path.string() + ": " + std::strerror(r.error));
  if (r.done < size) return core::DataLoss(path.string() + " was truncated while reading");
  return Status::Ok();
}

}  // namespace

std::uint16_t F32ToBF16(float value) { return BF16FromBits(std::bit_cast<std::uint32_t>(value)); }

std::uint16_t F32ToF16(float value) {
  const std::uint32_t u = std::bit_cast<std::uint32_t>(value);
  const auto sign = static_cast<std::uint16_t>((u >> 16) & 0x8000u);
  const std::uint32_t abs = u & 0x7FFFFFFFu;
  if (abs > 0x7F800000u) {  // NaN: quiet, sign and top payload bits kept
    return static_cast<std::uint16_t>(sign | 0x7E00u | ((abs >> 13) & 0x3FFu));
  }
  if (abs >= 0x477FF000u) return sign | 0x7C00u;  // >= 65520 rounds to Inf (and Inf stays)
  if (abs >= 0x38800000u) {                       // normal half: >= 2^-14
    std::uint32_t v = abs - 0x38000000u;          // rebias exponent 127 -> 15
    v += 0xFFFu + ((v >> 13) & 1u);               // round to nearest even on the 13 dropped bits
    return static_cast<std::uint16_t>(sign | (v >> 13));
  }
  const std::uint32_t e = abs >> 23;
  if (e < 102) return sign;  // below 2^-25: rounds to (signed) zero
  const std::uint32_t m = (abs & 0x7FFFFFu) | 0x800000u;
  const std::uint32_t shift = 126 - e;  // 14..24
  std::uint32_t q = m >> shift;
  const std::uint32_t rem = m & ((1u << shift) - 1u);
  const std::uint32_t half = 1u << (shift - 1);
  if (rem > half || (rem == half && (q & 1u))) ++q;
  return static_cast<std::uint16_t>(sign | q);
}

float BF16ToF32(std::uint16_t bits) { return std::bit_cast<float>(BitsFromBF16(bits)); }

float F16ToF32(std::uint16_t h) {
  const std::uint32_t sign = static_cast<std::uint32_t>(h & 0x8000u) << 16;
  const std::uint32_t exp = (h >> 10) & 0x1Fu;
  std::uint32_t mant = h & 0x3FFu;
  std::uint32_t bits;
  if (exp == 0x1F) {
    // Inf, or NaN made quiet (as F16C hardware and torch do).
    bits = sign | 0x7F800000u | (mant << 13) | (mant ? 0x00400000u : 0u);
  } else if (exp == 0) {
    if (mant == 0) {
      bits = sign;
    } else {  // subnormal half: normalize
      std::uint32_t e = 113;
      while (!(mant & 0x400u)) {
        mant <<= 1;
        --e;
      }
      bits = sign | (e << 23) | ((mant & 0x3FFu) << 13);
    }
  } else {
    bits = sign | ((exp + 112) << 23) | (mant << 13);
  }
  return std::bit_cast<float>(bits);
}

Status ConvertElements(DType from, DType to, std::span<const std::byte> in,
                       std::span<std::byte> out) {
  if (!IsConvertibleFloat(from) || !IsConvertibleFloat(to)) {
    return core::InvalidArgument("can only convert between F64, F32, F16 and BF16, not " +
                                 std::string(DTypeName(from)) + " -> " +
                                 std::string(DTypeName(to)));
  }
  const size_t in_size = ElemSize(from), out_size = ElemSize(to);
  if (in.size() % in_size != 0) {
    return core::InvalidArgument(std::to_string(in.size()) + " bytes is not a whole number of " +
                                 std::string(DTypeName(from)) + " elements");
  }
  const size_t n = in.size() / in_size;
  if (out.size() != n * out_size) {
    return core::InvalidArgument("output holds " + std::to_string(out.size()) + " bytes, need " +
                                 std::to_string(n * out_size));
  }
  ConvertRaw(from, to, in.data(), out.data(), n);
  return Status::Ok();
}

Result<ConvertStats> ConvertSafetensorsFile(const std::filesystem::path& in,
                                            const std::filesystem::path& out,
                                            const ConvertOptions& options) {
  if (!IsConvertibleFloat(options.target)) {
    return core::InvalidArgument("conversion target must be F64, F32, F16 or BF16, not " +
                                 std::string(DTypeName(options.target)));
  }
  std::error_code ec;
  if (std::filesystem::exists(out, ec) && std::filesystem::equivalent(in, out, ec)) {
    return core::InvalidArgument("input and output are the same file: " + in.string() +
                                 " (write the converted file elsewhere)");
  }
  core::UniqueFd fd(::open(in.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) {
    int err = errno;
    return Status(err == ENOENT ? core::Code::kNotFound : core::Code::kPermissionDenied,
                  "cannot open " + in.string() + ": " + std::strerror(err));
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode)) {
    return core::InvalidArgument(in.string() + " is not a regular file");
  }
  const auto file_size = static_cast<std::uint64_t>(st.st_size);
  ::posix_fadvise(fd.get(), 0, 0, POSIX_FADV_SEQUENTIAL);

  // Header: 8-byte length, then the JSON.
  std::vector<std::byte> prefix(std::min<std::uint64_t>(8, file_size));
  SDXL_RETURN_IF_ERROR(PreadAll(fd.get(), prefix.data(), prefix.size(), 0, in));
  auto n = ReadSafetensorsHeaderSize(prefix);
  if (!n.ok()) return n.status().Annotate(in.string());
  if (*n + 8 > file_size) {
    return core::DataLoss(in.string() + ": header length runs past the end of the file");
  }
  prefix.resize(*n + 8);
  SDXL_RETURN_IF_ERROR(PreadAll(fd.get(), prefix.data() + 8, *n, 8, in));
  auto parsed = ParseSafetensorsHeader(prefix, file_size);
  if (!parsed.ok()) return parsed.status().Annotate(in.string());
  const SafetensorsHeader& src = *parsed;

  auto converts = [&](const TensorInfo& t) {
    if (!IsConvertibleFloat(t.dtype) || t.dtype == options.target) return false;
    return !options.should_convert || options.should_convert(t);
  };
  std::vector<TensorSpec> specs;
  for (const TensorInfo& t : src.tensors()) {
    specs.push_back({t.name, converts(t) ? options.target : t.dtype, t.shape});
  }
  std::map<std::string, std::string> metadata = src.metadata();
  for (const auto& [k, v] : options.extra_metadata) metadata[k] = v;

  SDXL_ASSIGN_OR_RETURN(SafetensorsWriter writer,
                        SafetensorsWriter::Create(out, std::move(specs), std::move(metadata)));
  ConvertStats stats;
  stats.input_bytes = file_size;
  const std::uint64_t total = src.data_size();
  std::uint64_t done = 0;
  const size_t chunk = std::max<size_t>(options.chunk_bytes, 64);
  std::vector<std::byte> in_buf, out_buf;
  for (const TensorInfo& dst : writer.layout().tensors()) {
    const TensorInfo& t = *src.Find(dst.name);
    ++stats.tensors;
    const std::uint64_t base = src.data_offset() + t.data_begin;
    if (dst.dtype == t.dtype) {
      for (std::uint64_t off = 0; off < t.byte_size(); off += chunk) {
        const size_t len = static_cast<size_t>(std::min<std::uint64_t>(chunk, t.byte_size() - off));
        in_buf.resize(len);
        SDXL_RETURN_IF_ERROR(PreadAll(fd.get(), in_buf.data(), len, base + off, in));
        SDXL_RETURN_IF_ERROR(writer.Write(dst.name, in_buf));
        done += len;
        if (options.progress) options.progress(done, total);
      }
      continue;
    }
    ++stats.converted_tensors;
    const size_t in_elem = ElemSize(t.dtype), out_elem = ElemSize(dst.dtype);
    const size_t elems_per_step = std::max<size_t>(chunk / in_elem, 1);
    for (std::uint64_t e = 0; e < t.num_elements; e += elems_per_step) {
      const size_t count =
          static_cast<size_t>(std::min<std::uint64_t>(elems_per_step, t.num_elements - e));
      in_buf.resize(count * in_elem);
      out_buf.resize(count * out_elem);
      SDXL_RETURN_IF_ERROR(
          PreadAll(fd.get(), in_buf.data(), in_buf.size(), base + e * in_elem, in));
      ConvertRaw(t.dtype, dst.dtype, in_buf.data(), out_buf.data(), count);
      SDXL_RETURN_IF_ERROR(writer.Write(dst.name, out_buf));
      done += in_buf.size();
      if (options.progress) options.progress(done, total);
    }
  }
  stats.output_bytes = writer.layout().file_size();
  SDXL_RETURN_IF_ERROR(writer.Finish());
  return stats;
}

}  // namespace sdxl::weights
