using System;
using System.Runtime.InteropServices;

namespace MockMail;

public sealed partial class MockServer
{
    /// <summary>
    /// Makes AUTH GSSAPI accept tickets for the principals of <paramref name="keytab"/>, in the realm
    /// that <paramref name="krb5Config"/> describes, for every mock server of this process. The
    /// Kerberos library reads these from the process's own environment, which .NET's
    /// Environment.SetEnvironmentVariable does not change on Linux, so they are set with setenv.
    /// </summary>
    public static void UseKerberos(string keytab, string krb5Config)
    {
        SetNative("KRB5_KTNAME", "FILE:" + keytab);
        SetNative("KRB5_CONFIG", krb5Config);

        // No replay cache file under /var/tmp: each test realm is new.
        SetNative("KRB5RCACHETYPE", "none");
    }

    /// <summary>
    /// Makes AUTH NTLM accept the users of <paramref name="userFile"/> (gss-ntlmssp's format, a line
    /// "DOMAIN:user:password" each), for every mock server of this process.
    /// </summary>
    public static void UseNtlm(string userFile) => SetNative("NTLM_USER_FILE", userFile);

    /// <summary>
    /// Makes AUTH NTLM over TLS (SMTP and POP3) refuse an answer without the TLS session's channel
    /// binding (tls-server-end-point) or with a wrong one, as Exchange with Extended Protection does;
    /// the mock checks it against its own certificate (<see cref="NtlmChannelBinding"/>). Cleared by <see cref="Reset"/>.
    /// </summary>
    public bool RequireNtlmChannelBinding
    {
        get => Locked(() => _requireNtlmChannelBinding);
        set
        {
            lock (Sync)
            {
                _requireNtlmChannelBinding = value;
            }
        }
    }

    private bool _requireNtlmChannelBinding;

    private static void SetNative(string name, string value)
    {
        if (setenv(name, value, 1) != 0)
        {
            throw new InvalidOperationException($"setenv {name} failed ({Marshal.GetLastPInvokeError()}).");
        }
    }

    [DllImport("libc", SetLastError = true)]
    private static extern int setenv(string name, string value, int overwrite);
}
