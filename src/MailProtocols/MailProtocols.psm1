# The module's root: loads the build of MailProtocols.dll made for this PowerShell edition and
# exports its cmdlets. PowerShell 7.4+ runs core/ (.NET 8; MailKit in a private load context);
# Windows PowerShell 5.1 runs desktop/ (.NET Framework 4.7.2).
if ($PSEdition -eq 'Core') {
    if ($PSVersionTable.PSVersion -lt [version]'7.4') {
        throw "MailProtocols needs PowerShell 7.4 or later, or Windows PowerShell 5.1; this is PowerShell $($PSVersionTable.PSVersion)."
    }
    $build = 'core'
}
else {
    $build = 'desktop'
}

$binary = Import-Module (Join-Path $PSScriptRoot "$build/MailProtocols.dll") -PassThru
Export-ModuleMember -Cmdlet @($binary.ExportedCmdlets.Keys)
