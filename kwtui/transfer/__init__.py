"""Moving data into and out of KWDB: server-side IMPORT/EXPORT and client-side transfers."""
