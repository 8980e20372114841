set(IG_WARNINGS
  -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wformat=2 -Wvla
  -Wpointer-arith -Wundef -Werror=implicit-function-declaration -Werror=incompatible-pointer-types)
if(IG_WERROR)
  list(APPEND IG_WARNINGS -Werror)
endif()
add_compile_options(${IG_WARNINGS})
