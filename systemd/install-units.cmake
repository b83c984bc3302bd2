# SPDX-License-Identifier: MIT
# Run by cmake --install (systemd/CMakeLists.txt): writes the calcd units
# with ExecStart= naming calcd under the prefix of this install (so
# --prefix works at install time) and installs them, DESTDIR honoured.
# In: calc_units_src, calc_units_tmp, calc_sbindir, calc_unitdir.
foreach(dir sbindir unitdir)
  if(IS_ABSOLUTE "${calc_${dir}}")
    set(full_${dir} "${calc_${dir}}")
  else()
    set(full_${dir} "${CMAKE_INSTALL_PREFIX}/${calc_${dir}}")
  endif()
endforeach()
set(CALC_SBINDIR "${full_sbindir}")
file(READ "${calc_units_src}/hardening.conf" CALC_HARDENING)
# One scratch folder per destination: installs may run side by side.
string(MD5 dest "$ENV{DESTDIR}${CMAKE_INSTALL_PREFIX}")
set(calc_units_tmp "${calc_units_tmp}/${dest}")
file(MAKE_DIRECTORY "${calc_units_tmp}")
foreach(unit calcd.service calcd@.service calcd.socket)
  configure_file("${calc_units_src}/${unit}.in" "${calc_units_tmp}/${unit}"
                 @ONLY)
endforeach()
file(INSTALL "${calc_units_tmp}/calcd.service" "${calc_units_tmp}/calcd@.service"
     "${calc_units_tmp}/calcd.socket"
     DESTINATION "${full_unitdir}" FILE_PERMISSIONS OWNER_READ OWNER_WRITE
     GROUP_READ WORLD_READ)
