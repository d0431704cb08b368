// The poem_cache addon: what only C++ can do. It maps a cache file (or POSIX shared memory) read-only and
// hands JS an external ArrayBuffer over the mapping, creates and unlinks shared memory, and parses JSON float
// arrays for the converter. It knows nothing of the cache format: cache/validate.ts checks every image in
// TypeScript before any view is made. OS failures are thrown as instances of the error class the loader
// (native/index.ts) hands over with setErrorConstructor(), as better-sqlite3 does with SqliteError.
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

namespace {

// Declared only under NAPI_EXPERIMENTAL in Node >= 24.16 headers; we build against node-api-headers for
// NAPI_VERSION 8, so the type is spelled out here and the symbol is looked up at load time.
using CreateExternalSharedArrayBuffer = napi_status (*)(napi_env env, void* data, size_t byte_length,
                                                        void (*finalize_cb)(void* data, void* hint), void* hint,
                                                        napi_value* result);
CreateExternalSharedArrayBuffer createExternalSab = nullptr;

// `${label}: ${syscall} failed: ${strerror}`, with errno (negative, as in Node's own system errors), syscall
// and path, built by the class the loader registered for this thread (env).
[[noreturn]] void throwSystemError(Napi::Env env, const std::string& label, const char* syscall,
                                   const std::string& path, int err) {
  Napi::FunctionReference* errorClass = env.GetInstanceData<Napi::FunctionReference>();
  if (errorClass == nullptr) {
    throw Napi::Error::New(env, "poem_cache: no error class: load the addon with native/index.ts");
  }
  // The errno's name (ENOENT, ...) is the class's to find (util.getSystemErrorName): no libc-specific call here.
  Napi::Object error = errorClass->New({
      Napi::String::New(env, label + ": " + syscall + " failed: " + strerror(err)),
      Napi::Number::New(env, -err),
      Napi::String::New(env, syscall),
      Napi::String::New(env, path),
  });
  throw Napi::Error(env, error);
}

struct Mapping {
  void* data;
  size_t size;  // 0: an empty file, nothing mapped (mmap cannot map zero bytes)
};

// Maps `fd` (always closed here) read-only. No validation: the caller's parseCache does that.
Mapping mapReadOnly(Napi::Env env, int fd, const std::string& label, const std::string& path) {
  struct stat st;
  if (fstat(fd, &st) != 0) {
    int err = errno;
    close(fd);
    throwSystemError(env, label, "fstat", path, err);
  }
  if (st.st_size == 0) {
    close(fd);
    return {nullptr, 0};
  }
  const size_t size = size_t(st.st_size);
  void* data = mmap(nullptr, size, PROT_READ, MAP_SHARED, fd, 0);
  int err = errno;
  close(fd);  // the mapping keeps the file alive
  if (data == MAP_FAILED) throwSystemError(env, label, "mmap", path, err);
  return {data, size};
}

void unmapArrayBuffer(napi_env, void* data, void* hint) { munmap(data, reinterpret_cast<size_t>(hint)); }
void unmapSharedArrayBuffer(void* data, void* hint) { munmap(data, reinterpret_cast<size_t>(hint)); }

Napi::ArrayBuffer externalArrayBuffer(Napi::Env env, const Mapping& m) {
  if (m.size == 0) return Napi::ArrayBuffer::New(env, 0);
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
  if (info.Length() <= i || !info[i].IsString()) {
    throw Napi::TypeError::New(info.Env(), std::string(what) + " must be a string");
  }
  return info[i].As<Napi::String>().Utf8Value();
}

int openReadOnly(Napi::Env env, const std::string& path) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throwSystemError(env, path, "open", path, errno);
  return fd;
}

// POSIX shm names are "/name"; accept the name with or without the slash.
std::string shmPath(const std::string& name) { return name.size() > 0 && name[0] == '/' ? name : "/" + name; }

// setErrorConstructor(Class): the class OS errors are built from on this thread, called as
// new Class(message, code, errno, syscall, path).
Napi::Value SetErrorConstructor(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsFunction()) {
    throw Napi::TypeError::New(env, "setErrorConstructor(Class): Class must be a function");
  }
  // Owned by the env: node-addon-api deletes it when this thread's environment goes.
  env.SetInstanceData(new Napi::FunctionReference(Napi::Persistent(info[0].As<Napi::Function>())));
  return env.Undefined();
}

Napi::Value MapFile(const Napi::CallbackInfo& info) {
  std::string path = stringArg(info, 0, "path");
  return externalArrayBuffer(info.Env(), mapReadOnly(info.Env(), openReadOnly(info.Env(), path), path, path));
}

Napi::Value MapFileShared(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string path = stringArg(info, 0, "path");
  Mapping m = mapReadOnly(env, openReadOnly(env, path), path, path);
  if (m.size == 0) return env.Global().Get("SharedArrayBuffer").As<Napi::Function>().New({Napi::Number::New(env, 0)});
  napi_value result;
  // The finalizer may run on any thread once the last isolate lets go; munmap is thread-safe.
  napi_status status =
      createExternalSab(env, m.data, m.size, unmapSharedArrayBuffer, reinterpret_cast<void*>(m.size), &result);
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
  if (fd < 0) throwSystemError(env, label, "shm_open", path, errno);
  if (ftruncate(fd, off_t(size)) != 0) {
    int err = errno;
    close(fd);
    shm_unlink(path.c_str());  // we created it: do not leave an empty object behind
    throwSystemError(env, label, "ftruncate", path, err);
  }
  void* data = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  int err = errno;
  close(fd);
  if (data == MAP_FAILED) {
    shm_unlink(path.c_str());
    throwSystemError(env, label, "mmap", path, err);
  }
  return externalArrayBuffer(env, {data, size});
}

Napi::Value ShmOpen(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string name = stringArg(info, 0, "name");
  const std::string label = "shm:" + name;
  const std::string path = shmPath(name);
  int fd = shm_open(path.c_str(), O_RDONLY | O_CLOEXEC, 0);
  if (fd < 0) throwSystemError(env, label, "shm_open", path, errno);
  return externalArrayBuffer(env, mapReadOnly(env, fd, label, path));
}

Napi::Value ShmUnlink(const Napi::CallbackInfo& info) {
  std::string name = stringArg(info, 0, "name");
  const std::string path = shmPath(name);
  if (shm_unlink(path.c_str()) != 0) throwSystemError(info.Env(), "shm:" + name, "shm_unlink", path, errno);
  return info.Env().Undefined();
}

// parseFloats(bytes, from, to, out, at, max): poem::parseJsonFloats over bytes[from, to) into out[at, at + max).
Napi::Value ParseFloats(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 6 || !info[0].IsTypedArray() || !info[3].IsTypedArray()) {
    throw Napi::TypeError::New(env, "parseFloats(bytes, from, to, out, at, max)");
  }
  Napi::TypedArray bytes = info[0].As<Napi::TypedArray>();
  Napi::TypedArray outArg = info[3].As<Napi::TypedArray>();
  if (bytes.TypedArrayType() != napi_uint8_array || outArg.TypedArrayType() != napi_float32_array) {
    throw Napi::TypeError::New(env, "parseFloats: bytes must be a Uint8Array and out a Float32Array");
  }
  double from = info[1].As<Napi::Number>().DoubleValue();
  double to = info[2].As<Napi::Number>().DoubleValue();
  double at = info[4].As<Napi::Number>().DoubleValue();
  double max = info[5].As<Napi::Number>().DoubleValue();
  size_t len = bytes.ByteLength();
  size_t outLen = outArg.ElementLength();
  // !(a <= b) also rejects NaN
  if (!(from >= 0 && from <= to && to <= double(len)) || !(at >= 0 && max >= 0 && at + max <= double(outLen))) {
    throw Napi::RangeError::New(env, "parseFloats: range outside the arrays");
  }
  const char* data = static_cast<const char*>(bytes.ArrayBuffer().Data()) + bytes.ByteOffset();
  char* outBytes = static_cast<char*>(outArg.ArrayBuffer().Data()) + outArg.ByteOffset();
  float* out = reinterpret_cast<float*>(outBytes) + size_t(at);
  long parsed = poem::parseJsonFloats(data + size_t(from), data + size_t(to), out, size_t(max));
  return Napi::Number::New(env, double(parsed));
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("setErrorConstructor", Napi::Function::New(env, SetErrorConstructor, "setErrorConstructor"));
  exports.Set("mapFile", Napi::Function::New(env, MapFile, "mapFile"));
  createExternalSab = reinterpret_cast<CreateExternalSharedArrayBuffer>(
      dlsym(RTLD_DEFAULT, "node_api_create_external_sharedarraybuffer"));
  if (createExternalSab) exports.Set("mapFileShared", Napi::Function::New(env, MapFileShared, "mapFileShared"));
  exports.Set("shmCreate", Napi::Function::New(env, ShmCreate, "shmCreate"));
  exports.Set("shmOpen", Napi::Function::New(env, ShmOpen, "shmOpen"));
  exports.Set("shmUnlink", Napi::Function::New(env, ShmUnlink, "shmUnlink"));
  exports.Set("parseFloats", Napi::Function::New(env, ParseFloats, "parseFloats"));
  return exports;
}

}  // namespace

NODE_API_MODULE(poem_cache, Init)
