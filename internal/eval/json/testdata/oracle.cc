// oracle runs nlohmann::json the way current Nix's builtins.fromJSON and
// builtins.toJSON do. Build: g++ -std=c++17 -O1 (needs nlohmann-json3-dev).
// Input lines: "p\t<hex JSON text>" parses (SAX, as Nix) and prints a
// canonical dump or the error; "f\t<hex of 8 bytes, little endian>" dumps a
// double; "s\t<hex string>" dumps a string.
#include <cstring>
#include <iostream>
#include <limits>
#include <nlohmann/json.hpp>
#include <string>

using json = nlohmann::json;

static std::string unhex(const std::string & h) {
    std::string r;
    for (size_t i = 0; i + 1 < h.size(); i += 2)
        r += (char) std::stoi(h.substr(i, 2), nullptr, 16);
    return r;
}

struct Sax : nlohmann::json_sax<json> {
    std::string out;
    std::string err;
    bool fail(const std::string & e) { err = e; return false; }
    bool null() override { out += "null "; return true; }
    bool boolean(bool b) override { out += b ? "true " : "false "; return true; }
    bool number_integer(number_integer_t v) override { out += "i" + std::to_string(v) + " "; return true; }
    bool number_unsigned(number_unsigned_t v) override {
        if (v > (number_unsigned_t) std::numeric_limits<int64_t>::max())
            return fail("unsigned json number " + std::to_string(v) + " outside of Nix integer range");
        out += "i" + std::to_string(v) + " ";
        return true;
    }
    bool number_float(number_float_t v, const string_t &) override { out += "f" + json(v).dump() + " "; return true; }
    bool string(string_t & s) override {
        if (s.find('\0') != std::string::npos) return fail("NUL");
        out += "s" + json(s).dump(-1, ' ', false, json::error_handler_t::replace) + " ";
        return true;
    }
    bool binary(binary_t &) override { return true; }
    bool start_object(std::size_t) override { out += "{ "; return true; }
    bool key(string_t & s) override {
        if (s.find('\0') != std::string::npos) return fail("NUL");
        out += "k" + json(s).dump(-1, ' ', false, json::error_handler_t::replace) + " ";
        return true;
    }
    bool end_object() override { out += "} "; return true; }
    bool start_array(std::size_t) override { out += "[ "; return true; }
    bool end_array() override { out += "] "; return true; }
    bool parse_error(std::size_t, const std::string &, const nlohmann::detail::exception & ex) override {
        return fail(ex.what());
    }
};

int main() {
    std::string line;
    while (std::getline(std::cin, line)) {
        auto t = line.find('\t');
        std::string mode = line.substr(0, t), arg = unhex(line.substr(t + 1));
        if (mode == "p") {
            Sax sax;
            bool ok = json::sax_parse(arg, &sax);
            if (!ok) std::cout << "error: " << (sax.err.empty() ? "Invalid JSON Value" : sax.err) << "\n";
            else std::cout << sax.out << "\n";
        } else if (mode == "f") {
            double d;
            memcpy(&d, arg.data(), 8);
            std::cout << json(d).dump() << "\n";
        } else {
            try {
                std::cout << json(arg).dump() << "\n";
            } catch (json::exception & e) {
                std::cout << "error: JSON serialization error: " << e.what() << "\n";
            }
        }
    }
}
