#pragma once
// The playground: one self-contained web page served at GET /playground (HttpServer, unless
// `serve --playground=false`). Its HTML, CSS and JS live in src/serve/playground.html and are
// embedded into the binary at build time (CMake writes playground_html.cc): no CDN, no network.
// The page builds its form from /openapi.json, creates predictions with a sync
// `PUT /predictions/{id}`, polls GET /playground/predictions/{id} for "step n/N" while it runs,
// cancels with POST /predictions/{id}/cancel, and sends the bearer token the user typed.
// It grants nothing the API does not: every call it makes needs the token when one is set.
// Thread-safe (immutable data); the returned views and strings live as long as the program.

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace sdxl::serve {

// The page, as embedded from playground.html.
std::string_view PlaygroundHtml();

// A Content-Security-Policy for `html`: only its own inline <script> and <style> run (each
// allowed by its SHA-256, so injected markup and inline event handlers cannot execute), fetches
// go to the same origin only, images may come from data: URLs and http(s) (presigned output
// URLs), and the page cannot be framed. Empty when `html` has no <script>...</script>.
std::string ContentSecurityPolicy(std::string_view html);

// The response headers for PlaygroundHtml() (the CSP above, computed once; nosniff; no
// caching across versions; no referrer), in order.
const std::vector<std::pair<std::string, std::string>>& PlaygroundHeaders();

}  // namespace sdxl::serve
