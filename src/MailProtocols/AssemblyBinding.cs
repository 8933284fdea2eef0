using System;
using System.Collections.Generic;
using System.Reflection;

namespace MailProtocols;

/// <summary>
/// The binding decision of the Windows PowerShell 5.1 build (see DesktopAssemblyResolver), kept
/// apart from AppDomain so that it can be tested on .NET 8: .NET Framework binds a strong-named
/// reference only to exactly the version it names, and powershell.exe has no binding redirects
/// for a module's dependencies, so a request it could not bind is served here as a redirect
/// would: by an assembly of the same name, culture and public key whose version is at least the
/// one requested.
/// </summary>
internal static class AssemblyBinding
{
    /// <summary>What serves <paramref name="requested"/>: one of <paramref name="loaded"/> first
    /// (a second copy of an assembly in the process would make its types two different types),
    /// else <paramref name="shipped"/>, the module's own file of that name; null when the module
    /// ships no file of that name (another module's request is none of ours) or nothing fits.</summary>
    internal static AssemblyName? Choose(AssemblyName requested, IEnumerable<AssemblyName> loaded, AssemblyName? shipped)
    {
        if (shipped == null || !string.Equals(requested.Name, shipped.Name, StringComparison.OrdinalIgnoreCase))
        {
            return null;
        }

        foreach (var name in loaded)
        {
            if (Serves(name, requested))
            {
                return name;
            }
        }

        return Serves(shipped, requested) ? shipped : null;
    }

    /// <summary>Whether <paramref name="candidate"/> may stand in for <paramref name="requested"/>.</summary>
    internal static bool Serves(AssemblyName candidate, AssemblyName requested) =>
        string.Equals(candidate.Name, requested.Name, StringComparison.OrdinalIgnoreCase)
        && string.Equals(candidate.CultureName ?? "", requested.CultureName ?? "", StringComparison.OrdinalIgnoreCase)
        && SameKey(candidate.GetPublicKeyToken(), requested.GetPublicKeyToken())
        && (requested.Version == null || (candidate.Version != null && candidate.Version >= requested.Version));

    /// <summary>A request that names no key (a partial name) takes any; "PublicKeyToken=null"
    /// names an unsigned assembly.</summary>
    private static bool SameKey(byte[]? candidate, byte[]? requested)
    {
        if (requested == null)
        {
            return true;
        }

        candidate ??= Array.Empty<byte>();
        if (candidate.Length != requested.Length)
        {
            return false;
        }

        for (var i = 0; i < candidate.Length; i++)
        {
            if (candidate[i] != requested[i])
            {
                return false;
            }
        }

        return true;
    }
}
