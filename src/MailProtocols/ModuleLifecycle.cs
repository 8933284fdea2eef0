using System.Management.Automation;

namespace MailProtocols;

/// <summary>
/// PowerShell calls this on Import-Module and Remove-Module of the binary module (it must be
/// public, with a public parameterless constructor), so the assembly handler of this edition
/// (DependencyLoader on PowerShell 7, DesktopAssemblyResolver on Windows PowerShell
/// 5.1) is there only while the module is imported.
/// </summary>
public sealed class ModuleLifecycle : IModuleAssemblyInitializer, IModuleAssemblyCleanup
{
#if NETCOREAPP
    public void OnImport() => DependencyLoader.Attach();

    public void OnRemove(PSModuleInfo psModuleInfo) => DependencyLoader.Detach();
#else
    public void OnImport() => DesktopAssemblyResolver.Attach();

    public void OnRemove(PSModuleInfo psModuleInfo) => DesktopAssemblyResolver.Detach();
#endif
}
