// The poem_cache addon: maps a cache file (or POSIX shared memory) read-only, validates it with the C++
// twin of cache/validate.ts, and hands JS an external ArrayBuffer over the mapping. Thin on purpose:
// every format rule lives in validate.cc, every constant in layout.h.
#include <dlfcn.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

#include <napi.h>

#include "floats.h"
#include "layout.h"
#include "validate.h"

namespace {

// Declared only under NAPI_EXPERIMENTAL in Node >= 24.16 headers; we build against node-api-headers for
// NAPI_VERSION 8, so the type is spelled out here and the symbol is looked up at load time.
using CreateExternalSharedArrayBuffer = napi_status (*)(napi_env env, void* data, size_t byte_length,
                                                        void (*finalize_cb)(void* data, void* hint), void* hint,
                                                        napi_value* result);
CreateExternalSharedArrayBuffer createExternalSab = nullptr;

[[noreturn]] void throwOsError(Napi::Env env, const std::string& label, const char* what, int err) {
  Napi::Error error = Napi::Error::New(env, label + ": " + what + " failed: " + strerror(err));
  const char* name = strerrorname_np(err);
  error.Set("code", Napi::String::New(env, name ? name : "EUNKNOWN"));
  error.Set("errno", Napi::Number::New(env, err));
  throw error;
}

[[noreturn]] void throwFormatError(Napi::Env env, const poem::CacheFormatError& e) {
  Napi::Error error = Napi::Error::New(env, e.message);
  error.Set("code", Napi::String::New(env, "POEM_CACHE_FORMAT"));
  error.Set("offset", Napi::Number::New(env, double(e.offset)));
  throw error;
}

struct Mapping {
  void* data;
  size_t size;
};

// Maps `fd` (always closed here) read-only and validates it; the mapping is unmapped again on any error.
Mapping mapValidated(Napi::Env env, int fd, const std::string& label) {
  struct stat st;
  if (fstat(fd, &st) != 0) {
    int err = errno;
    close(fd);
    throwOsError(env, label, "fstat", err);
  }
  poem::CacheFormatError formatError;
  if (st.st_size == 0) {
    // mmap cannot map zero bytes: report what the validator says about an empty image instead.
    close(fd);
    poem::validateCache(nullptr, 0, label, formatError);
    throwFormatError(env, formatError);
  }
  const size_t size = size_t(st.st_size);
  void* data = mmap(nullptr, size, PROT_READ, MAP_SHARED, fd, 0);
  int mmapErr = errno;
  close(fd);  // the mapping keeps the file alive
  if (data == MAP_FAILED) throwOsError(env, label, "mmap", mmapErr);
  if (!poem::validateCache(static_cast<const uint8_t*>(data), size, label, formatError)) {
    munmap(data, size);
    throwFormatError(env, formatError);
  }
  return {data, size};
}

void unmapArrayBuffer(napi_env, void* data, void* hint) { munmap(data, reinterpret_cast<size_t>(hint)); }
void unmapSharedArrayBuffer(void* data, void* hint) { munmap(data, reinterpret_cast<size_t>(hint)); }

Napi::ArrayBuffer externalArrayBuffer(Napi::Env env, const Mapping& m) {
  napi_value result;
  napi_status status = napi_create_external_arraybuffer(env, m.data, m.size, unmapArrayBuffer,
                                                        reinterpret_cast<void*>(m.size), &result);
  if (status != napi_ok) {
    munmap(m.data, m.size);
    NAPI_THROW_IF_FAILED(env, status, Napi::ArrayBuffer());
  }
  return Napi::ArrayBuffer(env, result);
}

std::string stringArg(const Napi::CallbackInfo& info, size_t i, const char* what) {
  if (info.Length() <= i || !info[i].IsString()) throw Napi::TypeError::New(info.Env(), std::string(what) + " must be a string");
  return info[i].As<Napi::String>().Utf8Value();
}

int openReadOnly(Napi::Env env, const std::string& path) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throwOsError(env, path, "open", errno);
  return fd;
}

// POSIX shm names are "/name"; accept the name with or without the slash.
std::string shmPath(const std::string& name) { return name.size() > 0 && name[0] == '/' ? name : "/" + name; }

Napi::Value MapFile(const Napi::CallbackInfo& info) {
  std::string path = stringArg(info, 0, "path");
  return externalArrayBuffer(info.Env(), mapValidated(info.Env(), openReadOnly(info.Env(), path), path));
}

Napi::Value MapFileShared(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string path = stringArg(info, 0, "path");
  Mapping m = mapValidated(env, openReadOnly(env, path), path);
  napi_value result;
  // The finalizer may run on any thread once the last isolate lets go; munmap is thread-safe.
  napi_status status = createExternalSab(env, m.data, m.size, unmapSharedArrayBuffer, reinterpret_cast<void*>(m.size), &result);
  if (status != napi_ok) {
    munmap(m.data, m.size);
    NAPI_THROW_IF_FAILED(env, status, Napi::Value());
  }
  return Napi::Value(env, result);
}

Napi::Value ShmCreate(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string name = stringArg(info, 0, "name");
  if (info.Length() < 2 || !info[1].IsNumber()) throw Napi::TypeError::New(env, "size must be a number");
  double sizeArg = info[1].As<Napi::Number>().DoubleValue();
  if (!(sizeArg >= 1 && sizeArg <= 9007199254740991.0) || sizeArg != double(uint64_t(sizeArg))) {
    throw Napi::RangeError::New(env, "size must be a positive integer");
  }
  const size_t size = size_t(sizeArg);
  const std::string label = "shm:" + name;
  const std::string path = shmPath(name);
  int fd = shm_open(path.c_str(), O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC, 0600);
  if (fd < 0) throwOsError(env, label, "shm_open", errno);
  if (ftruncate(fd, off_t(size)) != 0) {
    int err = errno;
    close(fd);
    shm_unlink(path.c_str());  // we created it: do not leave an empty object behind
    throwOsError(env, label, "ftruncate", err);
  }
  void* data = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  int err = errno;
  close(fd);
  if (data == MAP_FAILED) {
    shm_unlink(path.c_str());
    throwOsError(env, label, "mmap", err);
  }
  return externalArrayBuffer(env, {data, size});
}

Napi::Value ShmOpen(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string name = stringArg(info, 0, "name");
  const std::string label = "shm:" + name;
  int fd = shm_open(shmPath(name).c_str(), O_RDONLY | O_CLOEXEC, 0);
  if (fd < 0) throwOsError(env, label, "shm_open", errno);
  return externalArrayBuffer(env, mapValidated(env, fd, label));
}

Napi::Value ShmUnlink(const Napi::CallbackInfo& info) {
  std::string name = stringArg(info, 0, "name");
  if (shm_unlink(shmPath(name).c_str()) != 0) throwOsError(info.Env(), "shm:" + name, "shm_unlink", errno);
  return info.Env().Undefined();
}

Napi::Value Validate(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const uint8_t* data = nullptr;
  size_t size = 0;
  if (info.Length() >= 1 && info[0].IsArrayBuffer()) {
    Napi::ArrayBuffer ab = info[0].As<Napi::ArrayBuffer>();
    data = static_cast<const uint8_t*>(ab.Data());
    size = ab.ByteLength();
  } else if (info.Length() >= 1 && info[0].IsTypedArray()) {
    Napi::TypedArray ta = info[0].As<Napi::TypedArray>();
    data = static_cast<const uint8_t*>(ta.ArrayBuffer().Data()) + ta.ByteOffset();
    size = ta.ByteLength();
  } else if (info.Length() >= 1 && info[0].IsDataView()) {
    Napi::DataView dv = info[0].As<Napi::DataView>();
    data = static_cast<const uint8_t*>(dv.ArrayBuffer().Data()) + dv.ByteOffset();
    size = dv.ByteLength();
  } else {
    throw Napi::TypeError::New(env, "bytes must be an ArrayBuffer or an ArrayBuffer view");
  }
  std::string label = stringArg(info, 1, "label");
  poem::CacheFormatError error;
  if (!poem::validateCache(data, size, label, error)) throwFormatError(env, error);
  return env.Undefined();
}

Napi::Value Shape(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint32_t args[5] = {};
  for (size_t i = 0; i < 5; i++) {
    if (info.Length() <= i || !info[i].IsNumber()) throw Napi::TypeError::New(env, "shape(kind, flags, count, param, param2) takes 5 numbers");
    args[i] = info[i].As<Napi::Number>().Uint32Value();
  }
  poem::SectionShape s = poem::sectionShape(args[0], args[1], args[2], args[3], args[4]);
  if (!s.known) return env.Undefined();
  Napi::Array parts = Napi::Array::New(env, s.partCount);
  for (uint32_t i = 0; i < s.partCount; i++) {
    const poem::Part& p = s.parts[i];
    Napi::Object part = Napi::Object::New(env);
    part.Set("name", p.name);
    part.Set("offset", double(p.offset));
    // As JS computes them: a length rounds to a double once, then * element size is exact.
    part.Set("length", double(p.length));
    part.Set("bytes", double(p.length) * p.elementBytes);
    parts.Set(i, part);
  }
  Napi::Object result = Napi::Object::New(env);
  result.Set("parts", parts);
  result.Set("byteLength", poem::jsShapeByteLength(args[0], args[2], args[3], s));
  return result;
}

Napi::Value Layout(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  using namespace poem;
  auto object = [&](std::initializer_list<std::pair<const char*, uint32_t>> fields) {
    Napi::Object o = Napi::Object::New(env);
    for (const auto& [name, value] : fields) o.Set(name, value);
    return o;
  };
  Napi::Object l = Napi::Object::New(env);
  l.Set("MAGIC", MAGIC);
  l.Set("FORMAT_MAJOR", FORMAT_MAJOR);
  l.Set("FORMAT_MINOR", FORMAT_MINOR);
  l.Set("BYTE_ORDER_MARK", BYTE_ORDER_MARK);
  l.Set("ALIGN", ALIGN);
  l.Set("HEADER_SIZE", HEADER_SIZE);
  l.Set("SECTION_ENTRY_SIZE", SECTION_ENTRY_SIZE);
  l.Set("SECTION_NAME_BYTES", SECTION_NAME_BYTES);
  l.Set("MAX_SECTIONS", MAX_SECTIONS);
  l.Set("H", object({{"magic", H::magic}, {"major", H::major}, {"minor", H::minor}, {"byteOrder", H::byteOrder},
                     {"flags", H::flags}, {"sectionCount", H::sectionCount}, {"fileSize", H::fileSize},
                     {"tableOffset", H::tableOffset}, {"entrySize", H::entrySize}, {"tableChecksum", H::tableChecksum},
                     {"reserved", H::reserved}, {"headerChecksum", H::headerChecksum}}));
  l.Set("E", object({{"name", E::name}, {"kind", E::kind}, {"elementType", E::elementType}, {"flags", E::flags},
                     {"offset", E::offset}, {"byteLength", E::byteLength}, {"count", E::count}, {"param", E::param},
                     {"param2", E::param2}, {"checksum", E::checksum}}));
  l.Set("SectionKind", object({{"matrix", SectionKind::matrix}, {"ragged", SectionKind::ragged},
                               {"strings", SectionKind::strings}, {"ids", SectionKind::ids}, {"json", SectionKind::json}}));
  l.Set("ElementType", object({{"f32", ElementType::f32}, {"i32", ElementType::i32}, {"u32", ElementType::u32},
                               {"u8", ElementType::u8}}));
  Napi::Object kindElementTypes = Napi::Object::New(env);
  for (uint32_t kind : {SectionKind::matrix, SectionKind::ragged, SectionKind::strings, SectionKind::ids, SectionKind::json}) {
    kindElementTypes.Set(kind, kindElementType(kind));
  }
  l.Set("KIND_ELEMENT_TYPE", kindElementTypes);
  l.Set("RAGGED_HAS_SCORES", RAGGED_HAS_SCORES);
  l.Set("IDS_DENSE_INDEX", IDS_DENSE_INDEX);
  l.Set("DENSE_INDEX_FACTOR", DENSE_INDEX_FACTOR);
  l.Set("DENSE_INDEX_SLACK", DENSE_INDEX_SLACK);
  l.Set("shape", Napi::Function::New(env, Shape, "shape"));
  return l;
}

Napi::Value Crc32(const Napi::CallbackInfo& info) {
  if (info.Length() < 1 || !info[0].IsTypedArray()) throw Napi::TypeError::New(info.Env(), "bytes must be an ArrayBuffer view");
  Napi::TypedArray ta = info[0].As<Napi::TypedArray>();
  const uint8_t* data = static_cast<const uint8_t*>(ta.ArrayBuffer().Data()) + ta.ByteOffset();
  return Napi::Number::New(info.Env(), poem::crc32(data, ta.ByteLength()));
}

// parseFloats(bytes, from, to, out, at, max): poem::parseJsonFloats over bytes[from, to) into out[at, at + max).
Napi::Value ParseFloats(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 6 || !info[0].IsTypedArray() || !info[3].IsTypedArray()) throw Napi::TypeError::New(env, "parseFloats(bytes, from, to, out, at, max)");
  Napi::TypedArray bytes = info[0].As<Napi::TypedArray>();
  Napi::TypedArray outArg = info[3].As<Napi::TypedArray>();
  if (bytes.TypedArrayType() != napi_uint8_array || outArg.TypedArrayType() != napi_float32_array) throw Napi::TypeError::New(env, "parseFloats: bytes must be a Uint8Array and out a Float32Array");
  double from = info[1].As<Napi::Number>().DoubleValue();
  double to = info[2].As<Napi::Number>().DoubleValue();
  double at = info[4].As<Napi::Number>().DoubleValue();
  double max = info[5].As<Napi::Number>().DoubleValue();
  size_t len = bytes.ByteLength();
  size_t outLen = outArg.ElementLength();
  // !(a <= b) also rejects NaN
  if (!(from >= 0 && from <= to && to <= double(len)) || !(at >= 0 && max >= 0 && at + max <= double(outLen))) throw Napi::RangeError::New(env, "parseFloats: range outside the arrays");
  const char* data = static_cast<const char*>(bytes.ArrayBuffer().Data()) + bytes.ByteOffset();
  float* out = reinterpret_cast<float*>(static_cast<char*>(outArg.ArrayBuffer().Data()) + outArg.ByteOffset()) + size_t(at);
  return Napi::Number::New(env, double(poem::parseJsonFloats(data + size_t(from), data + size_t(to), out, size_t(max))));
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("mapFile", Napi::Function::New(env, MapFile, "mapFile"));
  createExternalSab = reinterpret_cast<CreateExternalSharedArrayBuffer>(dlsym(RTLD_DEFAULT, "node_api_create_external_sharedarraybuffer"));
  if (createExternalSab) exports.Set("mapFileShared", Napi::Function::New(env, MapFileShared, "mapFileShared"));
  exports.Set("shmCreate", Napi::Function::New(env, ShmCreate, "shmCreate"));
  exports.Set("shmOpen", Napi::Function::New(env, ShmOpen, "shmOpen"));
  exports.Set("shmUnlink", Napi::Function::New(env, ShmUnlink, "shmUnlink"));
  exports.Set("validate", Napi::Function::New(env, Validate, "validate"));
  exports.Set("crc32", Napi::Function::New(env, Crc32, "crc32"));
  exports.Set("layout", Napi::Function::New(env, Layout, "layout"));
  exports.Set("parseFloats", Napi::Function::New(env, ParseFloats, "parseFloats"));
  return exports;
}

}  // namespace

NODE_API_MODULE(poem_cache, Init)
