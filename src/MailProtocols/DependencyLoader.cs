#if NETCOREAPP
using System;
using System.IO;
using System.Reflection;
using System.Runtime.CompilerServices;
using System.Runtime.Loader;

namespace MailProtocols;

/// <summary>
/// Keeps MailKit, MimeKit and BouncyCastle out of the session's default load context, where
/// another module's copy of another version would clash with ours ("Assembly with same name is
/// already loaded", "manifest definition does not match"). The engine and everything it needs
/// sit in the module's dependencies/ folder, where the default context never looks; while the
/// module is imported, a handler on the default context loads the engine into a private load
/// context, which then resolves the engine's own dependencies from that folder as .NET resolves
/// an application's: through MailProtocols.Engine.deps.json, which names the assembly for each
/// runtime (e.g. runtimes/win/lib/... on Windows, lib/... elsewhere). (PowerShell 7 only:
/// Windows PowerShell 5.1 has no load contexts, and its build loads everything side by side.)
/// </summary>
internal static class DependencyLoader
{
    private const string EngineName = "MailProtocols.Engine";

    private static readonly string EnginePath =
        Path.Combine(Path.GetDirectoryName(typeof(DependencyLoader).Assembly.Location)!, "dependencies", EngineName + ".dll");

    private static readonly DependencyLoadContext Context = new(EnginePath);
    private static readonly ImportCountedHandler Handler = new(
        () => AssemblyLoadContext.Default.Resolving += ResolveEngine,
        () => AssemblyLoadContext.Default.Resolving -= ResolveEngine);

    /// <summary>Runs when this assembly is loaded, before any of its types is used: PowerShell
    /// calls <see cref="Attach"/> only after it has looked through the cmdlet types.</summary>
#pragma warning disable CA2255 // a module initializer is the point here: it must run before the cmdlets touch the engine
    [ModuleInitializer]
#pragma warning restore CA2255
    internal static void Initialize() => Handler.Hook();

    /// <summary>One more import of the module (one per runspace that imports it).</summary>
    internal static void Attach() => Handler.Attach();

    /// <summary>One import fewer; the handler goes when the last runspace removes the module.</summary>
    internal static void Detach() => Handler.Detach();

    private static Assembly? ResolveEngine(AssemblyLoadContext context, AssemblyName name) =>
        name.Name == EngineName ? Context.LoadFromAssemblyName(name) : null;

    private sealed class DependencyLoadContext : AssemblyLoadContext
    {
        private readonly AssemblyDependencyResolver _resolver;

        public DependencyLoadContext(string enginePath) : base("MailProtocols", isCollectible: false) =>
            _resolver = new AssemblyDependencyResolver(enginePath);

        /// <summary>Our copy of an assembly when the engine's deps.json lists one; the default
        /// context's otherwise (the framework, System.Management.Automation).</summary>
        protected override Assembly? Load(AssemblyName name)
        {
            var path = _resolver.ResolveAssemblyToPath(name);
            return path == null ? null : LoadFromAssemblyPath(path);
        }

        protected override IntPtr LoadUnmanagedDll(string unmanagedDllName)
        {
            var path = _resolver.ResolveUnmanagedDllToPath(unmanagedDllName);
            return path == null ? IntPtr.Zero : LoadUnmanagedDllFromPath(path);
        }
    }
}
#endif
