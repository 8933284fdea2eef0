# The module as users get it: the .nupkg that build.ps1 -Task Package publishes with PSResourceGet,
# saved from a local folder repository into a temporary module path, imported BY NAME in a fresh pwsh.
Describe 'The published package' {
    BeforeAll {
        . (Join-Path $PSScriptRoot 'common.ps1')
        $package = $env:MAILPROTOCOLS_PACKAGE
        if (-not $package -or -not (Test-Path $package)) {
            throw "No package to test: run build.ps1 -Task Test, which builds it (MAILPROTOCOLS_PACKAGE='$package')."
        }

        $repository = "MailProtocolsTest-$([guid]::NewGuid().ToString('n'))"
        Register-PSResourceRepository -Name $repository -Uri (Split-Path $package) -Trusted
        $modules = (New-Item -ItemType Directory -Path (Join-Path $TestDrive 'Modules')).FullName
        Save-PSResource -Name MailProtocols -Repository $repository -Path $modules -TrustRepository
        $version = (Import-PowerShellDataFile (Join-Path $PSScriptRoot '../MailProtocols.psd1')).ModuleVersion
        $installed = Join-Path $modules "MailProtocols/$version"
        $mock = New-MockServer
    }

    AfterAll {
        Unregister-PSResourceRepository -Name $repository -ErrorAction SilentlyContinue
        if ($mock) { $mock.Dispose() }
    }

    It 'is named MailProtocols.<version>.nupkg' {
        Split-Path $package -Leaf | Should -Be "MailProtocols.$version.nupkg"
    }

    It 'installs the manifest, the assemblies, the format file and the help' {
        foreach ($file in 'MailProtocols.psd1', 'MailProtocols.psm1', 'MailProtocols.format.ps1xml', 'en-US/about_MailProtocols.help.txt',
            'core/MailProtocols.dll', 'core/en-US/MailProtocols.dll-Help.xml', 'core/dependencies/MailKit.dll',
            'core/dependencies/Microsoft.Identity.Client.dll', 'core/dependencies/Microsoft.IdentityModel.Abstractions.dll',
            'desktop/MailProtocols.dll', 'desktop/MailProtocols.Engine.dll', 'desktop/MailKit.dll', 'desktop/en-US/MailProtocols.dll-Help.xml',
            'desktop/Microsoft.Identity.Client.dll', 'desktop/Microsoft.IdentityModel.Abstractions.dll') {
            Join-Path $installed $file | Should -Exist
        }
        Get-ChildItem $installed -Recurse -Filter 'System.Management.Automation.dll' | Should -BeNullOrEmpty
    }

    It 'installs every file of the built module (the runtimes/ tree too)' {
        $built = Split-Path $modulePath
        $files = @(Get-ChildItem $built -Recurse -File | ForEach-Object { [IO.Path]::GetRelativePath($built, $_.FullName) })
        $files | Should -Contain ([IO.Path]::Combine('core', 'dependencies', 'runtimes', 'win', 'lib', 'net8.0', 'System.Security.Cryptography.Pkcs.dll'))
        foreach ($file in $files) {
            Join-Path $installed $file | Should -Exist
        }
    }

    It 'ships a Windows PowerShell 5.1 build for .NET Framework 4.7.2 (compiled here, not run: 5.1 needs Windows)' {
        foreach ($dll in 'MailProtocols.dll', 'MailProtocols.Engine.dll') {
            $bytes = [IO.File]::ReadAllBytes((Join-Path $installed "desktop/$dll"))
            [Text.Encoding]::ASCII.GetString($bytes) | Should -Match ([regex]::Escape('.NETFramework,Version=v4.7.2'))
        }
        $core = [Text.Encoding]::ASCII.GetString([IO.File]::ReadAllBytes((Join-Path $installed 'core/MailProtocols.dll')))
        $core | Should -Match ([regex]::Escape('.NETCoreApp,Version=v8.0'))
        $manifest = Import-PowerShellDataFile (Join-Path $installed 'MailProtocols.psd1')
        $manifest.CompatiblePSEditions | Sort-Object | Should -Be @('Core', 'Desktop')
        $manifest.PowerShellVersion | Should -Be '5.1'
    }

    It 'has a manifest that Test-ModuleManifest accepts, exporting exactly its cmdlets' {
        $manifest = Test-ModuleManifest (Join-Path $installed 'MailProtocols.psd1') -ErrorAction Stop
        $manifest.Version | Should -Be $version
        @($manifest.ExportedCmdlets.Keys) | Sort-Object | Should -Be @('Get-Pop3Message', 'Import-MailMessage', 'Remove-Pop3Message', 'Save-MailAttachment', 'Send-SmtpMessage', 'Test-Pop3Connection', 'Test-SmtpConnection')
        $data = Import-PowerShellDataFile (Join-Path $installed 'MailProtocols.psd1')
        $data.CmdletsToExport | Should -Not -Contain '*'
        $data.PrivateData.PSData.Tags | Should -Contain 'POP3'
        $data.PrivateData.PSData.LicenseUri | Should -Not -BeNullOrEmpty
        $data.PrivateData.PSData.ReleaseNotes | Should -Not -BeNullOrEmpty
    }

    It 'imports by name in a fresh pwsh and does a send and a POP3 round trip' {
        $child = @'
param($Port, $Pop3Port, $Password)
$ErrorActionPreference = 'Stop'
Import-Module MailProtocols
$cred = [pscredential]::new('alice', (ConvertTo-SecureString $Password -AsPlainText -Force))
$sent = Send-SmtpMessage -SmtpServer 127.0.0.1 -Port $Port -SkipCertificateCheck -Credential $cred -From 'pkg@example.com' -To 'alice@example.com' -Subject 'from the package'
$pop = @{ Pop3Server = '127.0.0.1'; Port = $Pop3Port; Credential = $cred; SkipCertificateCheck = $true }
$got = @(Get-Pop3Message @pop)
$got | Remove-Pop3Message @pop -Force
[pscustomobject]@{
    ModuleBase = (Get-Module MailProtocols).ModuleBase
    Binary     = @((Get-Module MailProtocols).NestedModules.Path)
    MessageId  = $sent.MessageId
    Subjects   = @($got.Subject)
    Left       = @(Get-Pop3Message @pop).Count
} | ConvertTo-Json -Compress
'@
        $script = Join-Path $TestDrive 'from-package.ps1'
        Set-Content -Path $script -Value $child
        $saved = $env:PSModulePath
        try {
            $env:PSModulePath = $modules + [IO.Path]::PathSeparator + $saved
            $json = & (Join-Path $PSHOME 'pwsh') -NoProfile -NonInteractive -File $script $mock.SmtpPort $mock.Pop3Port $mock.Users['alice']
        }
        finally { $env:PSModulePath = $saved }
        $LASTEXITCODE | Should -Be 0
        $result = ($json | Select-Object -Last 1) | ConvertFrom-Json
        $result.ModuleBase | Should -BeLike "$modules*"
        $result.Binary | Should -Be @((Join-Path $installed 'core/MailProtocols.dll'))
        $result.Subjects | Should -Be @('from the package')
        $result.MessageId | Should -Not -BeNullOrEmpty
        $result.Left | Should -Be 0
    }
}

# The engine's dependencies as .NET resolves them: MailProtocols.Engine.deps.json lists each
# package's assemblies, with a build per operating system where one differs (runtimes/<rid>/...).
# The module's load context picks one through that file, so every asset it can pick on each
# operating system must be in the module.
Describe 'The built module''s dependencies' {
    BeforeAll {
        . (Join-Path $PSScriptRoot 'common.ps1')
        $dependencies = Join-Path (Split-Path $modulePath) 'core/dependencies'
        $deps = Get-Content (Join-Path $dependencies 'MailProtocols.Engine.deps.json') -Raw | ConvertFrom-Json -AsHashtable

        function Get-RuntimeAsset {
            # The files the host loads for a RID, as it chooses them: per library and asset type,
            # the runtimeTargets of the first RID in the fallback chain that has any; else the
            # RID-agnostic assets, which a published folder holds by file name.
            param([string[]] $FallbackChain)
            foreach ($library in $deps.targets[$deps.runtimeTarget.name].Values) {
                foreach ($type in 'runtime', 'native') {
                    $specific = @()
                    if ($library.Contains('runtimeTargets')) {
                        foreach ($rid in $FallbackChain) {
                            $specific = @($library.runtimeTargets.Keys | Where-Object {
                                    $library.runtimeTargets[$_].rid -eq $rid -and $library.runtimeTargets[$_].assetType -eq $type })
                            if ($specific) { break }
                        }
                    }
                    if ($specific) { $specific }
                    elseif ($library.Contains($type)) { $library[$type].Keys | ForEach-Object { Split-Path $_ -Leaf } }
                }
            }
        }
    }

    It 'lists the engine and its packages in MailProtocols.Engine.deps.json' {
        $libraries = @($deps.targets[$deps.runtimeTarget.name].Keys | ForEach-Object { ($_ -split '/')[0] })
        foreach ($name in 'MailProtocols.Engine', 'MailKit', 'MimeKit', 'BouncyCastle.Cryptography', 'System.Security.Cryptography.Pkcs',
            'Microsoft.Identity.Client', 'Microsoft.IdentityModel.Abstractions') {
            $libraries | Should -Contain $name
        }
    }

    It 'holds every runtime asset the deps.json lists for <Rid>' -ForEach @(
        @{ Rid = 'win-x64'; Chain = 'win-x64', 'win', 'any'; Pkcs = 'runtimes/win/lib/net8.0/System.Security.Cryptography.Pkcs.dll' }
        @{ Rid = 'win-arm64'; Chain = 'win-arm64', 'win', 'any'; Pkcs = 'runtimes/win/lib/net8.0/System.Security.Cryptography.Pkcs.dll' }
        @{ Rid = 'linux-x64'; Chain = 'linux-x64', 'linux', 'unix', 'any'; Pkcs = 'System.Security.Cryptography.Pkcs.dll' }
        @{ Rid = 'osx-arm64'; Chain = 'osx-arm64', 'osx', 'unix', 'any'; Pkcs = 'System.Security.Cryptography.Pkcs.dll' }
    ) {
        $assets = @(Get-RuntimeAsset -FallbackChain $Chain)
        $assets | Should -Contain 'MailProtocols.Engine.dll'
        $assets | Should -Contain 'MailKit.dll'
        $assets | Should -Contain 'Microsoft.Identity.Client.dll'
        $assets | Should -Contain $Pkcs
        foreach ($asset in $assets) {
            Join-Path $dependencies $asset | Should -Exist
        }
    }
}

# Windows PowerShell 5.1 (compiled here, not run: it needs Windows) binds a strong-named reference
# only to exactly the version it names, and powershell.exe has no binding redirects for a module:
# MSAL and System.Text.Json name older versions of System.Memory, System.Buffers and others than
# the files shipped beside them, which the desktop build's AssemblyResolve handler serves
# (src/MailProtocols/DesktopAssemblyResolver.cs; its decision is in the engine's unit tests).
Describe 'The Windows PowerShell 5.1 build''s assembly references' {
    BeforeAll {
        . (Join-Path $PSScriptRoot 'common.ps1')
        $desktop = Join-Path (Split-Path $modulePath) 'desktop'
        $packages = if ($env:NUGET_PACKAGES) { $env:NUGET_PACKAGES } else { Join-Path $HOME '.nuget/packages' }
        # The framework's own assemblies, by name: the reference assemblies the build compiled against.
        $framework = Get-ChildItem (Join-Path $packages 'microsoft.netframework.referenceassemblies.net472') -Directory |
            Sort-Object Name -Descending | Select-Object -First 1 |
            ForEach-Object { Join-Path $_.FullName 'build/.NETFramework/v4.7.2' }
        $frameworkNames = @(Get-ChildItem $framework, (Join-Path $framework 'Facades') -Filter *.dll | ForEach-Object BaseName)
        $hostNames = @('System.Management.Automation') # PowerShell itself

        function Read-Metadata {
            # The assembly's references (name, version, public key token), type names and the names
            # of the members it calls on other assemblies' types.
            param([string] $Path)
            $stream = [IO.File]::OpenRead($Path)
            try {
                $pe = [Reflection.PortableExecutable.PEReader]::new($stream)
                $md = [Reflection.Metadata.PEReaderExtensions]::GetMetadataReader($pe)
                [pscustomobject]@{
                    References = @(foreach ($handle in $md.AssemblyReferences) {
                            $reference = $md.GetAssemblyReference($handle)
                            $token = $md.GetBlobBytes($reference.PublicKeyOrToken)
                            [pscustomobject]@{ Name = $md.GetString($reference.Name); Version = $reference.Version; Token = [Convert]::ToHexString($token) }
                        })
                    Types      = @(foreach ($handle in $md.TypeDefinitions) { $md.GetString($md.GetTypeDefinition($handle).Name) })
                    Calls      = @(foreach ($handle in $md.MemberReferences) { $md.GetString($md.GetMemberReference($handle).Name) })
                }
                $pe.Dispose()
            }
            finally { $stream.Dispose() }
        }

        $shipped = @{}
        $references = foreach ($dll in Get-ChildItem $desktop -Filter *.dll) {
            $name = [Reflection.AssemblyName]::GetAssemblyName($dll.FullName)
            $shipped[$name.Name] = [pscustomobject]@{ Version = $name.Version; Token = [Convert]::ToHexString(@($name.GetPublicKeyToken())) }
            foreach ($reference in (Read-Metadata $dll.FullName).References) {
                $reference | Add-Member -NotePropertyName From -NotePropertyValue $dll.Name -PassThru
            }
        }
        $module = Read-Metadata (Join-Path $desktop 'MailProtocols.dll')
    }

    It 'finds the framework''s reference assemblies to compare with' {
        $frameworkNames | Should -Contain 'mscorlib'
        $frameworkNames | Should -Contain 'netstandard'
    }

    It 'has a file in desktop/, in the framework or in PowerShell for every reference' {
        $missing = @($references | Where-Object { -not $shipped.ContainsKey($_.Name) -and $_.Name -notin $frameworkNames -and $_.Name -notin $hostNames } |
                ForEach-Object { "$($_.From) -> $($_.Name) $($_.Version)" })
        $missing | Should -BeNullOrEmpty
    }

    It 'ships each referenced assembly of the same publisher in at least the version referenced' {
        $short = @($references | Where-Object { $shipped.ContainsKey($_.Name) } | Where-Object {
                $file = $shipped[$_.Name]
                $file.Version -lt $_.Version -or ($_.Token -and $file.Token -ne $_.Token)
            } | ForEach-Object { "$($_.From) -> $($_.Name) $($_.Version) (shipped: $($shipped[$_.Name].Version))" })
        $short | Should -BeNullOrEmpty
    }

    It 'serves a reference to an older version than the file shipped through its AssemblyResolve handler' {
        $redirected = @($references | Where-Object { $shipped.ContainsKey($_.Name) -and $shipped[$_.Name].Version -ne $_.Version })
        # MSAL and System.Text.Json as they are today; should none remain, the handler may go.
        $redirected.Count | Should -BeGreaterThan 0
        $module.Types | Should -Contain 'DesktopAssemblyResolver'
        $module.Calls | Should -Contain 'add_AssemblyResolve'
        $module.Calls | Should -Contain 'remove_AssemblyResolve'
    }

    It 'has -UseDefaultCredentials, which ends in CurrentLogonNotSupported naming PowerShell 7; passwords keep MailKit''s managed NTLM' {
        function Read-Assembly {
            # Type names, the property names of each type, and the string literals of the code.
            param([string] $Path)
            $stream = [IO.File]::OpenRead($Path)
            try {
                $pe = [Reflection.PortableExecutable.PEReader]::new($stream)
                $md = [Reflection.Metadata.PEReaderExtensions]::GetMetadataReader($pe)
                $properties = @{}
                foreach ($handle in $md.TypeDefinitions) {
                    $type = $md.GetTypeDefinition($handle)
                    $properties[$md.GetString($type.Name)] = @(foreach ($p in $type.GetProperties()) { $md.GetString($md.GetPropertyDefinition($p).Name) })
                }
                $strings = [Collections.Generic.List[string]]::new()
                $handle = [Reflection.Metadata.Ecma335.MetadataTokens]::UserStringHandle(1)
                while (-not $handle.IsNil) {
                    $strings.Add($md.GetUserString($handle))
                    $handle = [Reflection.Metadata.Ecma335.MetadataReaderExtensions]::GetNextHandle($md, $handle)
                }
                $pe.Dispose()
                [pscustomobject]@{ Properties = $properties; Strings = $strings }
            }
            finally { $stream.Dispose() }
        }
        $desktopEngine = Read-Assembly (Join-Path $desktop 'MailProtocols.Engine.dll')
        $coreEngine = Read-Assembly (Join-Path (Split-Path $modulePath) 'core/dependencies/MailProtocols.Engine.dll')
        $desktopCmdlets = Read-Assembly (Join-Path $desktop 'MailProtocols.dll')
        $desktopMailKit = Read-Assembly (Join-Path $desktop 'MailKit.dll')

        foreach ($command in 'SendSmtpMessageCommand', 'GetPop3MessageCommand', 'RemovePop3MessageCommand') {
            $desktopCmdlets.Properties[$command] | Should -Contain 'UseDefaultCredentials' -Because "$command takes it on 5.1 too"
        }
        # .NET Framework has no NegotiateAuthentication: no Kerberos mechanism, a clear error instead.
        $desktopEngine.Properties.Keys | Should -Not -Contain 'GssapiMechanism'
        $desktopEngine.Strings -contains 'CurrentLogonNotSupported' | Should -BeTrue -Because 'the desktop engine raises that error'
        @($desktopEngine.Strings -match '^-UseDefaultCredentials needs PowerShell 7\b').Count | Should -Be 1
        $coreEngine.Properties.Keys | Should -Contain 'GssapiMechanism'
        $coreEngine.Strings -contains 'CurrentLogonNotSupported' | Should -BeFalse -Because 'PowerShell 7 signs in with Kerberos'
        # A password may still go over NTLM: MailKit's own managed implementation, in its
        # .NET Framework build too.
        $desktopEngine.Strings -contains 'NTLM' | Should -BeTrue -Because 'NTLM is among the password mechanisms'
        $desktopMailKit.Properties.Keys | Should -Contain 'SaslMechanismNtlm'
    }
}
