#if NETCOREAPP
using System.Management.Automation;

namespace MailProtocols;

/// <summary>
/// PowerShell calls this on Import-Module and Remove-Module of the binary module (it must be
/// public, with a public parameterless constructor), so the load-context handler of
/// <see cref="DependencyLoader"/> is there only while the module is imported.
/// </summary>
public sealed class ModuleLifecycle : IModuleAssemblyInitializer, IModuleAssemblyCleanup
{
    public void OnImport() => DependencyLoader.Attach();

    public void OnRemove(PSModuleInfo psModuleInfo) => DependencyLoader.Detach();
}
#endif
