#if NETCOREAPP
using System.IO;
using System.Reflection;
using System.Runtime.CompilerServices;
using System.Runtime.Loader;

namespace MailProtocols;

/// <summary>
/// Keeps MailKit, MimeKit and BouncyCastle out of the session's default load context, where
/// another module's copy of another version would clash with ours ("Assembly with same name is
/// already loaded", "manifest definition does not match"). The engine and everything it needs
/// sit in the module's dependencies/ folder, where the default context never looks; when this
/// assembly first needs the engine, the handler below loads it into a private load context,
/// which then resolves the engine's own dependencies from that folder. (PowerShell 7 only:
/// Windows PowerShell 5.1 has no load contexts, and its build loads everything side by side.)
/// </summary>
internal static class DependencyLoader
{
    private const string EngineName = "MailProtocols.Engine";

    private static readonly string Folder =
        Path.Combine(Path.GetDirectoryName(typeof(DependencyLoader).Assembly.Location)!, "dependencies");

    private static readonly DependencyLoadContext Context = new(Folder);

    /// <summary>Runs when this assembly is loaded, before any of its types is used.</summary>
#pragma warning disable CA2255 // a module initializer is the point here: it must run before the cmdlets touch the engine
    [ModuleInitializer]
#pragma warning restore CA2255
    internal static void Register() => AssemblyLoadContext.Default.Resolving += ResolveEngine;

    private static Assembly? ResolveEngine(AssemblyLoadContext context, AssemblyName name) =>
        name.Name == EngineName ? Context.LoadFromAssemblyName(name) : null;

    private sealed class DependencyLoadContext : AssemblyLoadContext
    {
        private readonly string _folder;

        public DependencyLoadContext(string folder) : base("MailProtocols", isCollectible: false) => _folder = folder;

        /// <summary>Our copy of an assembly when the module ships one; the default context's
        /// otherwise (the framework, System.Management.Automation).</summary>
        protected override Assembly? Load(AssemblyName name)
        {
            var path = Path.Combine(_folder, name.Name + ".dll");
            return File.Exists(path) ? LoadFromAssemblyPath(path) : null;
        }
    }
}
#endif
