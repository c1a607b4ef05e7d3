/* error_test.c - mp_strerror / mp_err_name / mp_version from MP_ERRNO_MAP (core/src/error.c). */
#include <criterion/criterion.h>
#include <marcpipe/common.h>

Test(error, names_and_messages, .timeout = 10)
{
    cr_assert_str_eq(mp_err_name(MP_EIO), "MP_EIO");
    cr_assert_str_eq(mp_strerror(MP_OK), "success");
    cr_assert_str_eq(mp_strerror(-999), "unknown error");
    cr_assert_str_eq(mp_err_name(-999), "MP_UNKNOWN");
    cr_assert_str_eq(mp_version(), MP_VERSION_STRING);
}

/* Every code keeps its value (stable ABI), name and message. */
Test(error, every_code_has_its_value_name_and_message, .timeout = 10)
{
    static const struct {
        int code, value;
        const char *name;
    } want[] = {
        {MP_OK, 0, "MP_OK"},
        {MP_EOF, -1, "MP_EOF"},
        {MP_ERECORD, -2, "MP_ERECORD"},
        {MP_ENOMEM, -3, "MP_ENOMEM"},
        {MP_EINVAL, -4, "MP_EINVAL"},
        {MP_EIO, -5, "MP_EIO"},
        {MP_ECANCELED, -6, "MP_ECANCELED"},
        {MP_ENOENT, -7, "MP_ENOENT"},
        {MP_EACCES, -8, "MP_EACCES"},
        {MP_ETOOBIG, -9, "MP_ETOOBIG"},
        {MP_ESTOPPED, -10, "MP_ESTOPPED"},
        {MP_ELIMIT, -11, "MP_ELIMIT"},
        {MP_EAGAIN, -12, "MP_EAGAIN"},
        {MP_EBUSY, -13, "MP_EBUSY"},
        {MP_ETHREAD, -14, "MP_ETHREAD"},
        {MP_ECLOSED, -18, "MP_ECLOSED"},
        {MP_EFORKED, -19, "MP_EFORKED"},
        {MP_EISDIR, -20, "MP_EISDIR"},
    };
    size_t n = 0;
#define COUNT(name, value, msg) n++;
    MP_ERRNO_MAP(COUNT)
#undef COUNT
    cr_assert_eq(n, sizeof want / sizeof want[0], "MP_ERRNO_MAP has %zu codes", n);
    for (size_t i = 0; i < n; i++) {
        cr_assert_eq(want[i].code, want[i].value, "%s", want[i].name);
        cr_assert_str_eq(mp_err_name(want[i].code), want[i].name);
        cr_assert_str_neq(mp_strerror(want[i].code), "unknown error", "%s", want[i].name);
    }
    /* Unassigned values (the dropped ENOTSUP, EINTR, ERANGE; the next free one) are unknown. */
    static const int unassigned[] = {-15, -16, -17, -21};
    for (size_t i = 0; i < sizeof unassigned / sizeof unassigned[0]; i++) {
        cr_assert_str_eq(mp_err_name(unassigned[i]), "MP_UNKNOWN", "%d", unassigned[i]);
        cr_assert_str_eq(mp_strerror(unassigned[i]), "unknown error", "%d", unassigned[i]);
    }
}
