#if !NETCOREAPP
using System;
using System.IO;
using System.Linq;
using System.Reflection;
using System.Runtime.CompilerServices;

namespace MailProtocols;

/// <summary>
/// Windows PowerShell 5.1 has no load contexts: the desktop build loads everything side by side
/// from its own folder. MSAL and System.Text.Json reference older versions of System.Memory,
/// System.Buffers, System.Runtime.CompilerServices.Unsafe and others than the files shipped with
/// them, and .NET Framework binds a strong-named reference only to the exact version without a
/// binding redirect, which powershell.exe.config does not have for a module. While the module is
/// imported, this handler serves such a request as <see cref="AssemblyBinding"/> decides.
/// </summary>
internal static class DesktopAssemblyResolver
{
    private static readonly string Folder = Path.GetDirectoryName(typeof(DesktopAssemblyResolver).Assembly.Location)!;
    private static readonly ImportCountedHandler Handler = new(
        () => AppDomain.CurrentDomain.AssemblyResolve += Resolve,
        () => AppDomain.CurrentDomain.AssemblyResolve -= Resolve);

    /// <summary>Runs when this assembly is loaded, before any of its types is used: PowerShell
    /// calls <see cref="Attach"/> only after it has looked through the cmdlet types.</summary>
    [ModuleInitializer]
    internal static void Initialize() => Handler.Hook();

    /// <summary>One more import of the module (one per runspace that imports it).</summary>
    internal static void Attach() => Handler.Attach();

    /// <summary>One import fewer; the handler goes when the last runspace removes the module.</summary>
    internal static void Detach() => Handler.Detach();

    private static Assembly? Resolve(object? sender, ResolveEventArgs args)
    {
        // Any failure here leaves the load to fail as it would have without this handler (the
        // handler also sees other modules' requests): nothing may escape into their loads.
        AssemblyName requested, shipped;
        string path;
        try
        {
            requested = new AssemblyName(args.Name);
            if (string.IsNullOrEmpty(requested.Name) || requested.Name.IndexOfAny(Path.GetInvalidFileNameChars()) >= 0)
            {
                return null;
            }

            path = Path.Combine(Folder, requested.Name + ".dll");
            if (!File.Exists(path))
            {
                return null;
            }

            shipped = AssemblyName.GetAssemblyName(path);
        }
        catch (Exception ex) when (ex is IOException || ex is BadImageFormatException || ex is UnauthorizedAccessException || ex is ArgumentException)
        {
            return null;
        }

        var loaded = AppDomain.CurrentDomain.GetAssemblies();
        var names = loaded.Select(a => a.GetName()).ToArray();
        var choice = AssemblyBinding.Choose(requested, names, shipped);
        if (choice == null)
        {
            return null;
        }

        return ReferenceEquals(choice, shipped) ? Assembly.LoadFrom(path) : loaded[Array.IndexOf(names, choice)];
    }
}
#endif
