# protobuf-c code for the .proto files in proto/ and the well-known types they import.
#
# protoc-c runs at build time and writes *.pb-c.[ch] into ${CMAKE_BINARY_DIR}/proto (never into the
# source tree). The generated sources form the static library ig_proto; IG_PROTO_LIB names it for
# the grpc module. Headers are included as "envoy/service/ext_proc/v3/external_processor.pb-c.h".

find_program(IG_PROTOC_C protoc-c REQUIRED)
pkg_check_modules(PROTOBUF_C REQUIRED IMPORTED_TARGET libprotobuf-c)

# The well-known types come from Debian's libprotobuf-dev; libprotobuf-c ships no generated code
# for them, so they are generated here like our own files.
find_path(IG_PROTOBUF_WKT_DIR google/protobuf/struct.proto PATHS /usr/include /usr/local/include REQUIRED)

set(IG_PROTO_SRC_DIR ${CMAKE_SOURCE_DIR}/proto)
set(IG_PROTO_OUT_DIR ${CMAKE_BINARY_DIR}/proto)

set(IG_PROTO_FILES
  envoy/config/core/v3/base.proto
  envoy/type/v3/http_status.proto
  envoy/extensions/filters/http/ext_proc/v3/processing_mode.proto
  envoy/service/ext_proc/v3/external_processor.proto
  grpc/health/v1/health.proto)
set(IG_PROTO_WKT_FILES
  google/protobuf/any.proto
  google/protobuf/duration.proto
  google/protobuf/struct.proto
  google/protobuf/wrappers.proto)

set(ig_proto_srcs)
set(ig_proto_hdrs)
set(ig_proto_inputs)
foreach(p ${IG_PROTO_FILES} ${IG_PROTO_WKT_FILES})
  string(REGEX REPLACE "\\.proto$" "" stem ${p})
  list(APPEND ig_proto_srcs ${IG_PROTO_OUT_DIR}/${stem}.pb-c.c)
  list(APPEND ig_proto_hdrs ${IG_PROTO_OUT_DIR}/${stem}.pb-c.h)
endforeach()
foreach(p ${IG_PROTO_FILES})
  list(APPEND ig_proto_inputs ${IG_PROTO_SRC_DIR}/${p})
endforeach()
foreach(p ${IG_PROTO_WKT_FILES})
  list(APPEND ig_proto_inputs ${IG_PROTOBUF_WKT_DIR}/${p})
endforeach()

# One protoc-c run for all files: they import each other and the outputs must agree.
add_custom_command(
  OUTPUT ${ig_proto_srcs} ${ig_proto_hdrs}
  COMMAND ${CMAKE_COMMAND} -E make_directory ${IG_PROTO_OUT_DIR}
  COMMAND ${IG_PROTOC_C} --c_out=${IG_PROTO_OUT_DIR} -I${IG_PROTO_SRC_DIR} -I${IG_PROTOBUF_WKT_DIR}
          ${IG_PROTO_FILES} ${IG_PROTO_WKT_FILES}
  DEPENDS ${ig_proto_inputs}
  COMMENT "protoc-c: generating ext_proc, health and well-known type sources"
  VERBATIM)

add_library(ig_proto STATIC ${ig_proto_srcs})
target_include_directories(ig_proto PUBLIC ${IG_PROTO_OUT_DIR})
target_link_libraries(ig_proto PUBLIC PkgConfig::PROTOBUF_C)
# Generated code only: protoc-c output leaves braces out of some union initialisers and its
# declarations predate our prototype warnings. Our own code keeps the full warning set.
target_compile_options(ig_proto PRIVATE -Wno-missing-braces -Wno-missing-prototypes -Wno-strict-prototypes
  -Wno-unused-parameter -Wno-shadow -Wno-undef)
set(IG_PROTO_LIB ig_proto)
