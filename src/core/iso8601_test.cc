#include "core/iso8601.h"

#include <gtest/gtest.h>

namespace sdxl::core {
namespace {

TEST(Iso8601, ParsesWhatS3Writes) {
  EXPECT_EQ(ParseIso8601Utc("1970-01-01T00:00:00.000Z"), 0);
  EXPECT_EQ(ParseIso8601Utc("2010-11-10T20:48:33.000Z"), 1289422113);
  EXPECT_EQ(ParseIso8601Utc("2010-11-10T20:48:33Z"), 1289422113);
  EXPECT_EQ(ParseIso8601Utc("2010-11-10T20:48:33.123456+00:00"), 1289422113);
  EXPECT_EQ(ParseIso8601Utc("2010-11-10T20:48:33"), 1289422113);
}

TEST(Iso8601, RefusesOtherText) {
  for (const char* bad :
       {"", "2010-11-10", "2010-11-10T20:48", "2010-13-10T20:48:33Z", "2010-11-10T24:00:00Z",
        "2010-11-10T20:48:33.Z", "2010-11-10T20:48:33+02:00", "Wed, 10 Nov 2010 20:48:33 GMT",
        "2010-11-10T20:48:33Zjunk", "20x0-11-10T20:48:33Z"}) {
    EXPECT_EQ(ParseIso8601Utc(bad), std::nullopt) << bad;
  }
}

TEST(Iso8601, FormatRoundTrips) {
  EXPECT_EQ(FormatIso8601Utc(0), "1970-01-01T00:00:00.000Z");
  EXPECT_EQ(FormatIso8601Utc(1289422113), "2010-11-10T20:48:33.000Z");
  for (std::time_t t : {std::time_t{0}, std::time_t{951782400}, std::time_t{4102444799}}) {
    EXPECT_EQ(ParseIso8601Utc(FormatIso8601Utc(t)), t);
  }
}

}  // namespace
}  // namespace sdxl::core
