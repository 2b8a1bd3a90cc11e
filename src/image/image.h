#pragma once
// Image: an 8-bit RGB raster, and its encoders to PNG (libpng), JPEG (libjpeg-turbo) and WebP
// (libwebp).
//
// Pixels are row-major, top row first, 3 bytes per pixel (R, G, B), no row padding:
// rgb.size() == width * height * 3. Encoders are pure functions (thread-safe) returning the
// encoded file bytes, owned by the caller. Decoders exist for tests and round-trips.

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace sdxl::image {

struct Image {
  int width = 0;
  int height = 0;
  std::vector<uint8_t> rgb;  // width * height * 3 bytes
};

enum class Format { kPng, kJpeg, kWebp };

// "png" | "jpg" | "jpeg" | "webp" (case-insensitive).
core::Result<Format> ParseFormat(std::string_view name);
// "png" | "jpg" | "webp": the file extension to write.
std::string_view Extension(Format format);
// "image/png" | "image/jpeg" | "image/webp".
std::string_view MimeType(Format format);

// Lossless PNG (8-bit RGB, zlib level 6). Errors: invalid dimensions or buffer size.
core::Result<std::vector<uint8_t>> EncodePng(const Image& image);
// Baseline JPEG, 4:2:0, quality 0..100 (values outside are clamped to 1..100).
core::Result<std::vector<uint8_t>> EncodeJpeg(const Image& image, int quality);
// Lossy WebP, quality 0..100 (values outside are clamped); quality 100 is still lossy.
core::Result<std::vector<uint8_t>> EncodeWebp(const Image& image, int quality);
// Dispatch on `format`; `quality` is ignored for PNG.
core::Result<std::vector<uint8_t>> Encode(const Image& image, Format format, int quality);

// Decoders to RGB (alpha dropped, grayscale expanded). DataLoss on corrupt data.
core::Result<Image> DecodePng(std::span<const uint8_t> bytes);
core::Result<Image> DecodeJpeg(std::span<const uint8_t> bytes);
core::Result<Image> DecodeWebp(std::span<const uint8_t> bytes);

}  // namespace sdxl::image
