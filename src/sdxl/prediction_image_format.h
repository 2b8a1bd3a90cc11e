#pragma once
// ToImageFormat: the Cog input's OutputFormat as the image encoder's Format.
//
// Header-only on purpose: sdxl_base does not depend on sdxl_image. Include it where both are
// linked (serve, cli). Pure and thread-safe.

#include "image/image.h"
#include "sdxl/prediction_input.h"

namespace sdxl::sdxl {

inline image::Format ToImageFormat(OutputFormat format) {
  switch (format) {
    case OutputFormat::kWebp:
      return image::Format::kWebp;
    case OutputFormat::kJpg:
      return image::Format::kJpeg;
    case OutputFormat::kPng:
      return image::Format::kPng;
  }
  return image::Format::kWebp;
}

}  // namespace sdxl::sdxl
