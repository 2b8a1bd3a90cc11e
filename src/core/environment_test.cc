#include "core/environment.h"

#include <gtest/gtest.h>

namespace sdxl::core {
namespace {

TEST(Environment, EmptyValuesCountAsUnset) {
  Environment env({{"A", ""}, {"B", "b"}, {"HOME", "/home/u"}});
  EXPECT_FALSE(env.Get("A").has_value());
  EXPECT_EQ(env.GetFirst({"A", "B"}).value(), "b");
  EXPECT_EQ(env.GetOr("C", "dflt"), "dflt");
  EXPECT_EQ(env.Home(), "/home/u");
}

TEST(Environment, FromProcessSeesPath) {
  auto env = Environment::FromProcess();
  EXPECT_TRUE(env.Get("PATH").has_value());
}

}  // namespace
}  // namespace sdxl::core
