// oracle runs std::regex (libstdc++, std::regex::extended) the way Nix's
// builtins.match and builtins.split do. Build: g++ -std=c++17 -O1.
// Input lines: "m\t<pattern>\t<subject>" or "s\t<pattern>\t<subject>", where
// pattern and subject are hex-encoded. Output: one line per input.
#include <iostream>
#include <regex>
#include <string>

static std::string unhex(const std::string & h) {
    std::string r;
    for (size_t i = 0; i + 1 < h.size(); i += 2)
        r += (char) std::stoi(h.substr(i, 2), nullptr, 16);
    return r;
}

static void text(std::string & out, const std::string & str) {
    out += " \"";
    for (char c : str) {
        char buf[8];
        snprintf(buf, sizeof buf, "%02x", (unsigned char) c);
        out += buf;
    }
    out += "\"";
}

static void group(std::string & out, const std::csub_match & m) {
    if (!m.matched) { out += " null"; return; }
    text(out, m.str());
}

int main() {
    std::string line;
    while (std::getline(std::cin, line)) {
        auto t1 = line.find('\t'), t2 = line.find('\t', t1 + 1);
        std::string mode = line.substr(0, t1);
        std::string re = unhex(line.substr(t1 + 1, t2 - t1 - 1));
        const std::string s = unhex(line.substr(t2 + 1));
        std::string out;
        try {
            std::regex regex(re, std::regex::extended);
            if (mode == "m") {
                std::cmatch match;
                if (!std::regex_match(s.data(), s.data() + s.size(), match, regex))
                    out = "null";
                else {
                    out = "[";
                    for (size_t i = 1; i < match.size(); i++) group(out, match[i]);
                    out += " ]";
                }
            } else {
                auto begin = std::cregex_iterator(s.data(), s.data() + s.size(), regex);
                auto end = std::cregex_iterator();
                out = "[";
                size_t n = 0;
                std::string last;
                for (auto i = begin; i != end; ++i, ++n) {
                    text(out, i->prefix().str());
                    out += " [";
                    for (size_t g = 1; g < i->size(); g++) group(out, (*i)[g]);
                    out += " ]";
                    last = i->suffix().str();
                }
                text(out, n == 0 ? s : last);
                out += " ]";
            }
        } catch (std::regex_error & e) {
            out = e.code() == std::regex_constants::error_space ? "error space" : "error";
        }
        std::cout << out << "\n" << std::flush;
    }
}
