// PNG (libpng), JPEG (libjpeg-turbo) and WebP (libwebp) encoders and decoders for 8-bit RGB.
#include "image/image.h"

#include <jpeglib.h>
#include <png.h>
#include <webp/decode.h>
#include <webp/encode.h>

#include <algorithm>
#include <csetjmp>
#include <cstring>

namespace sdxl::image {
namespace {

// Largest side libwebp accepts; PNG/JPEG allow more but nothing here needs it.
constexpr int kMaxSide = 16383;

core::Status Validate(const Image& image) {
  if (image.width <= 0 || image.height <= 0 || image.width > kMaxSide || image.height > kMaxSide) {
    return core::InvalidArgument("image size " + std::to_string(image.width) + "x" +
                                 std::to_string(image.height) + " is outside 1.." +
                                 std::to_string(kMaxSide));
  }
  const size_t want = static_cast<size_t>(image.width) * image.height * 3;
  if (image.rgb.size() != want) {
    return core::InvalidArgument("image buffer holds " + std::to_string(image.rgb.size()) +
                                 " bytes, expected width*height*3 = " + std::to_string(want));
  }
  return core::Status::Ok();
}

int ClampQuality(int q) { return std::clamp(q, 1, 100); }

// ---- PNG ----

struct PngWriteState {
  std::vector<uint8_t>* out;
};

void PngWrite(png_structp png, png_bytep data, png_size_t len) {
  auto* st = static_cast<PngWriteState*>(png_get_io_ptr(png));
  st->out->insert(st->out->end(), data, data + len);
}
void PngFlush(png_structp) {}

struct PngReadState {
  std::span<const uint8_t> in;
  size_t pos = 0;
};

void PngRead(png_structp png, png_bytep data, png_size_t len) {
  auto* st = static_cast<PngReadState*>(png_get_io_ptr(png));
  if (st->pos + len > st->in.size()) png_error(png, "truncated PNG data");
  std::memcpy(data, st->in.data() + st->pos, len);
  st->pos += len;
}

// libpng reports errors by longjmp; messages are kept for the Status.
void PngError(png_structp png, png_const_charp msg) {
  auto* text = static_cast<std::string*>(png_get_error_ptr(png));
  if (text) *text = msg;
  png_longjmp(png, 1);
}
void PngWarning(png_structp, png_const_charp) {}

// ---- JPEG ----

struct JpegError {
  jpeg_error_mgr mgr;
  std::jmp_buf jump;
  char message[JMSG_LENGTH_MAX];
};

void JpegErrorExit(j_common_ptr cinfo) {
  auto* err = reinterpret_cast<JpegError*>(cinfo->err);
  (*cinfo->err->format_message)(cinfo, err->message);
  std::longjmp(err->jump, 1);
}
void JpegSilence(j_common_ptr, int) {}

}  // namespace

core::Result<Format> ParseFormat(std::string_view name) {
  std::string n(name);
  std::transform(n.begin(), n.end(), n.begin(), [](unsigned char c) { return std::tolower(c); });
  if (n == "png") return Format::kPng;
  if (n == "jpg" || n == "jpeg") return Format::kJpeg;
  if (n == "webp") return Format::kWebp;
  return core::InvalidArgument("unknown image format '" + std::string(name) +
                               "': use png, jpg or webp");
}

std::string_view Extension(Format format) {
  switch (format) {
    case Format::kPng:
      return "png";
    case Format::kJpeg:
      return "jpg";
    case Format::kWebp:
      return "webp";
  }
  return "bin";
}

std::string_view MimeType(Format format) {
  switch (format) {
    case Format::kPng:
      return "image/png";
    case Format::kJpeg:
      return "image/jpeg";
    case Format::kWebp:
      return "image/webp";
  }
  return "application/octet-stream";
}

core::Result<std::vector<uint8_t>> EncodePng(const Image& image) {
  SDXL_RETURN_IF_ERROR(Validate(image));
  std::string error;
  png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &error, PngError, PngWarning);
  if (!png) return core::Internal("png_create_write_struct failed (out of memory?)");
  png_infop info = png_create_info_struct(png);
  std::vector<uint8_t> out;
  PngWriteState state{&out};
  std::vector<png_bytep> rows(static_cast<size_t>(image.height));
  if (!info || setjmp(png_jmpbuf(png))) {
    png_destroy_write_struct(&png, info ? &info : nullptr);
    return core::Internal("PNG encoding failed: " + error);
  }
  png_set_write_fn(png, &state, PngWrite, PngFlush);
  png_set_IHDR(png, info, static_cast<png_uint_32>(image.width),
               static_cast<png_uint_32>(image.height), 8, PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE,
               PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  png_set_compression_level(png, 6);
  for (int y = 0; y < image.height; ++y) {
    rows[static_cast<size_t>(y)] =
        const_cast<png_bytep>(image.rgb.data() + static_cast<size_t>(y) * image.width * 3);
  }
  png_set_rows(png, info, rows.data());
  png_write_png(png, info, PNG_TRANSFORM_IDENTITY, nullptr);
  png_destroy_write_struct(&png, &info);
  return out;
}

core::Result<Image> DecodePng(std::span<const uint8_t> bytes) {
  if (bytes.size() < 8 || png_sig_cmp(bytes.data(), 0, 8) != 0) {
    return core::DataLoss("not a PNG file (bad signature)");
  }
  std::string error;
  png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &error, PngError, PngWarning);
  if (!png) return core::Internal("png_create_read_struct failed (out of memory?)");
  png_infop info = png_create_info_struct(png);
  PngReadState state{bytes, 0};
  Image img;
  std::vector<png_bytep> rows;
  if (!info || setjmp(png_jmpbuf(png))) {
    png_destroy_read_struct(&png, info ? &info : nullptr, nullptr);
    return core::DataLoss("corrupt PNG: " + error);
  }
  png_set_read_fn(png, &state, PngRead);
  png_read_info(png, info);
  png_set_expand(png);
  png_set_strip_16(png);
  png_set_strip_alpha(png);
  png_set_gray_to_rgb(png);
  png_set_interlace_handling(png);
  png_read_update_info(png, info);
  img.width = static_cast<int>(png_get_image_width(png, info));
  img.height = static_cast<int>(png_get_image_height(png, info));
  if (png_get_rowbytes(png, info) != static_cast<size_t>(img.width) * 3) {
    png_destroy_read_struct(&png, &info, nullptr);
    return core::DataLoss("PNG did not convert to 8-bit RGB");
  }
  img.rgb.resize(static_cast<size_t>(img.width) * img.height * 3);
  rows.resize(static_cast<size_t>(img.height));
  for (int y = 0; y < img.height; ++y) {
    rows[static_cast<size_t>(y)] = img.rgb.data() + static_cast<size_t>(y) * img.width * 3;
  }
  png_read_image(png, rows.data());
  png_read_end(png, nullptr);
  png_destroy_read_struct(&png, &info, nullptr);
  return img;
}

core::Result<std::vector<uint8_t>> EncodeJpeg(const Image& image, int quality) {
  SDXL_RETURN_IF_ERROR(Validate(image));
  jpeg_compress_struct cinfo{};
  JpegError err{};
  cinfo.err = jpeg_std_error(&err.mgr);
  err.mgr.error_exit = JpegErrorExit;
  unsigned char* buf = nullptr;
  unsigned long size = 0;  // NOLINT(runtime/int): libjpeg's type
  if (setjmp(err.jump)) {
    jpeg_destroy_compress(&cinfo);
    std::free(buf);
    return core::Internal(std::string("JPEG encoding failed: ") + err.message);
  }
  jpeg_create_compress(&cinfo);
  jpeg_mem_dest(&cinfo, &buf, &size);
  cinfo.image_width = static_cast<JDIMENSION>(image.width);
  cinfo.image_height = static_cast<JDIMENSION>(image.height);
  cinfo.input_components = 3;
  cinfo.in_color_space = JCS_RGB;
  jpeg_set_defaults(&cinfo);
  jpeg_set_quality(&cinfo, ClampQuality(quality), TRUE);
  cinfo.optimize_coding = TRUE;
  jpeg_start_compress(&cinfo, TRUE);
  while (cinfo.next_scanline < cinfo.image_height) {
    JSAMPROW row = const_cast<JSAMPROW>(image.rgb.data() +
                                        static_cast<size_t>(cinfo.next_scanline) * image.width * 3);
    jpeg_write_scanlines(&cinfo, &row, 1);
  }
  jpeg_finish_compress(&cinfo);
  std::vector<uint8_t> out(buf, buf + size);
  jpeg_destroy_compress(&cinfo);
  std::free(buf);
  return out;
}

core::Result<Image> DecodeJpeg(std::span<const uint8_t> bytes) {
  if (bytes.size() < 3 || bytes[0] != 0xFF || bytes[1] != 0xD8) {
    return core::DataLoss("not a JPEG file (bad SOI marker)");
  }
  jpeg_decompress_struct cinfo{};
  JpegError err{};
  cinfo.err = jpeg_std_error(&err.mgr);
  err.mgr.error_exit = JpegErrorExit;
  err.mgr.emit_message = JpegSilence;
  Image img;
  if (setjmp(err.jump)) {
    jpeg_destroy_decompress(&cinfo);
    return core::DataLoss(std::string("corrupt JPEG: ") + err.message);
  }
  jpeg_create_decompress(&cinfo);
  jpeg_mem_src(&cinfo, bytes.data(), static_cast<unsigned long>(bytes.size()));  // NOLINT
  jpeg_read_header(&cinfo, TRUE);
  cinfo.out_color_space = JCS_RGB;
  jpeg_start_decompress(&cinfo);
  img.width = static_cast<int>(cinfo.output_width);
  img.height = static_cast<int>(cinfo.output_height);
  img.rgb.resize(static_cast<size_t>(img.width) * img.height * 3);
  while (cinfo.output_scanline < cinfo.output_height) {
    JSAMPROW row = img.rgb.data() + static_cast<size_t>(cinfo.output_scanline) * img.width * 3;
    jpeg_read_scanlines(&cinfo, &row, 1);
  }
  jpeg_finish_decompress(&cinfo);
  jpeg_destroy_decompress(&cinfo);
  return img;
}

core::Result<std::vector<uint8_t>> EncodeWebp(const Image& image, int quality) {
  SDXL_RETURN_IF_ERROR(Validate(image));
  uint8_t* out = nullptr;
  const size_t size = WebPEncodeRGB(image.rgb.data(), image.width, image.height, image.width * 3,
                                    static_cast<float>(std::clamp(quality, 0, 100)), &out);
  if (size == 0 || out == nullptr) {
    WebPFree(out);
    return core::Internal("WebP encoding failed (libwebp returned no data)");
  }
  std::vector<uint8_t> bytes(out, out + size);
  WebPFree(out);
  return bytes;
}

core::Result<Image> DecodeWebp(std::span<const uint8_t> bytes) {
  Image img;
  uint8_t* rgb = WebPDecodeRGB(bytes.data(), bytes.size(), &img.width, &img.height);
  if (rgb == nullptr) return core::DataLoss("corrupt or unsupported WebP data");
  img.rgb.assign(rgb, rgb + static_cast<size_t>(img.width) * img.height * 3);
  WebPFree(rgb);
  return img;
}

core::Result<std::vector<uint8_t>> Encode(const Image& image, Format format, int quality) {
  switch (format) {
    case Format::kPng:
      return EncodePng(image);
    case Format::kJpeg:
      return EncodeJpeg(image, quality);
    case Format::kWebp:
      return EncodeWebp(image, quality);
  }
  return core::InvalidArgument("unknown image format");
}

}  // namespace sdxl::image
