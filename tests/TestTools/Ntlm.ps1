# Dot-sourced by the NTLM tests: gss-ntlmssp (Debian's NTLM mechanism for GSSAPI), which the mock's
# AUTH NTLM runs under .NET's NegotiateAuthentication, so that a verifier this project did not
# write checks the NTLM answer; and its user file (NTLM_USER_FILE: "DOMAIN:user:password" lines).
#
#   $why = Install-GssNtlmssp             # $null when it is there, else why not
#   [MockMail.MockServer]::UseNtlm((New-NtlmUserFile -Path $file -User @{ 'MAILTEST\carol' = 'pw' }))

function Install-GssNtlmssp {
    # Installs gss-ntlmssp with apt-get when its mechanism is not registered. Returns $null when it
    # is there, else why it is not.
    $needed = { -not (Test-Path /etc/gss/mech.d/mech.ntlmssp.conf) }
    if (-not (& $needed)) { return $null }
    if (-not $IsLinux -or -not (Get-Command apt-get -ErrorAction SilentlyContinue)) { return 'gss-ntlmssp is missing and there is no apt-get to install it' }
    if ((id -u) -ne '0') { return 'gss-ntlmssp is missing and installing it needs root' }
    $log = Join-Path ([IO.Path]::GetTempPath()) "ntlmssp-apt-$([guid]::NewGuid().ToString('n')).log"
    $env:DEBIAN_FRONTEND = 'noninteractive'
    $install = { apt-get install -y -q --no-install-recommends -o DPkg::Lock::Timeout=300 gss-ntlmssp *>> $log; $LASTEXITCODE }
    if ((& $install) -ne 0) {
        apt-get update -q -o DPkg::Lock::Timeout=300 *>> $log
        $null = & $install
    }
    $tail = (Get-Content $log -Tail 5 -ErrorAction SilentlyContinue) -join ' / '
    Remove-Item $log -ErrorAction SilentlyContinue
    if (& $needed) { return "apt-get could not install gss-ntlmssp: $tail" }
    $null
}

function New-NtlmUserFile {
    # Writes gss-ntlmssp's user file: one "DOMAIN:user:password" line per 'DOMAIN\user' key.
    param([string] $Path, [hashtable] $User)
    Set-Content -LiteralPath $Path -Value @($User.GetEnumerator() | ForEach-Object { "$($_.Key -replace '\\', ':'):$($_.Value)" })
    $Path
}
