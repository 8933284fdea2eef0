#if !NETCOREAPP
namespace System.Runtime.CompilerServices
{
    /// <summary>Lets the compiler emit a module initializer for .NET Framework (Windows PowerShell 5.1),
    /// which runs it as any other runtime does.</summary>
    [AttributeUsage(AttributeTargets.Method, Inherited = false)]
    internal sealed class ModuleInitializerAttribute : Attribute
    {
    }
}
#endif
