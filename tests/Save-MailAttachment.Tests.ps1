# Save-MailAttachment against real messages: from the mock's POP3 mailbox (Get-Pop3Message
# -IncludeBody and -Destination) and from .eml files. Every written path is checked to be in the
# destination folder, and every byte against what was attached.

BeforeDiscovery {
    # Hostile names as a sender writes them, and the name each must be saved under. Those with a
    # character a header cannot carry as it is (NUL, a line break) come only encoded.
    $hostile = @(
        @{ Sent = '../../../../tmp/escaped/pwned.pdf'; Expected = 'pwned.pdf'; Plain = $true }
        @{ Sent = '..\..\Windows\System32\evil.dll'; Expected = 'evil.dll'; Plain = $true }
        @{ Sent = '..'; Expected = 'attachment.pdf'; Plain = $true }
        @{ Sent = '/etc/passwd'; Expected = 'passwd'; Plain = $true }
        @{ Sent = 'C:\Windows\win.ini'; Expected = 'win.ini'; Plain = $true }
        @{ Sent = 'C:evil.exe'; Expected = 'C_evil.exe'; Plain = $true }
        @{ Sent = '\\server\share\payload.exe'; Expected = 'payload.exe'; Plain = $true }
        @{ Sent = '\\?\C:\Windows\payload2.exe'; Expected = 'payload2.exe'; Plain = $true }
        @{ Sent = "a$([char]0x2215)..$([char]0x2215)division.txt"; Expected = 'division.txt'; Plain = $false }
        @{ Sent = "..$([char]0xFF0F)..$([char]0xFF0F)fullwidth.txt"; Expected = 'fullwidth.txt'; Plain = $false }
        @{ Sent = "..$([char]0x29F8)..$([char]0x29F8)big.txt"; Expected = 'big.txt'; Plain = $false }
        @{ Sent = "re$([char]0)port.pdf"; Expected = 're_port.pdf'; Plain = $false }
        @{ Sent = "line`r`nbreak.txt"; Expected = 'line__break.txt'; Plain = $false }
        @{ Sent = "bell$([char]7)tab$([char]9)x.txt"; Expected = 'bell_tab_x.txt'; Plain = $false }
        @{ Sent = "invoice$([char]0x202E)fdp.exe"; Expected = 'invoice_fdp.exe'; Plain = $false }
        @{ Sent = '...'; Expected = 'attachment.pdf'; Plain = $true }
        @{ Sent = 'CON'; Expected = '_CON'; Plain = $true }
        @{ Sent = 'CON.txt'; Expected = '_CON.txt'; Plain = $true }
        @{ Sent = 'com1'; Expected = '_com1'; Plain = $true }
        @{ Sent = 'LPT9.tar.gz'; Expected = '_LPT9.tar.gz'; Plain = $true }
        @{ Sent = 'report.pdf . .'; Expected = 'report.pdf'; Plain = $true }
        @{ Sent = 'a<b>c|d?e*f.txt'; Expected = 'a_b_c_d_e_f.txt'; Plain = $true }
        @{ Sent = ('x' * 400) + '.pdf'; Expected = ('x' * 176) + '.pdf'; Plain = $true }
        @{ Sent = ''; Expected = 'attachment.pdf'; Plain = $true }
        @{ Sent = $null; Expected = 'attachment.pdf'; Plain = $true }
    )
    $hostileCases = foreach ($case in $hostile) {
        foreach ($encoding in 'plain', 'rfc2231', 'rfc2047') {
            if ($encoding -eq 'plain' -and -not $case.Plain) { continue }
            if ($null -eq $case.Sent -and $encoding -ne 'plain') { continue }
            $shown = if ($null -eq $case.Sent) { '(no name)' } else { ($case.Sent -replace '[\x00-\x1f\x7f]', { '\x{0:X2}' -f [int][char]$_.Value }) }
            if ($shown.Length -gt 60) { $shown = $shown.Substring(0, 60) + '...' }
            @{ Sent = $case.Sent; Expected = $case.Expected; Encoding = $encoding; Shown = $shown }
        }
    }
}

Describe 'Save-MailAttachment' {
    BeforeAll {
        . (Join-Path $PSScriptRoot 'common.ps1')
        $mock = New-MockServer
        $alice = [pscredential]::new('alice', (ConvertTo-SecureString 'Secr3t!Pa55' -AsPlainText -Force))
        $fqid = ',MailProtocols.Commands.SaveMailAttachmentCommand'

        function New-Part {
            # One MIME part: a hashtable for New-RawMessage.
            param([string] $ContentType = 'application/octet-stream', [AllowNull()][string] $Name, [byte[]] $Bytes = [byte[]]@(),
                [ValidateSet('plain', 'rfc2231', 'rfc2047')][string] $Encoding = 'plain', [string] $Disposition = 'attachment', [string] $ContentId)
            $header = "Content-Type: $ContentType"
            $dispositionLine = "Content-Disposition: $Disposition"
            if ($null -ne $Name -and $PSBoundParameters.ContainsKey('Name')) {
                switch ($Encoding) {
                    'plain' { $dispositionLine += "; filename=`"$($Name -replace '\\', '\\' -replace '"', '\"')`"" }
                    'rfc2231' {
                        # Split in two continuations, percent-encoded UTF-8 (RFC 2231 section 3 and 4).
                        $nameBytes = [Text.Encoding]::UTF8.GetBytes($Name)
                        $encoded = -join ($nameBytes | ForEach-Object { '%{0:X2}' -f $_ })
                        $half = [int]([math]::Floor($nameBytes.Length / 2)) * 3
                        $dispositionLine += ";`r`n filename*0*=utf-8''$($encoded.Substring(0, $half));`r`n filename*1*=$($encoded.Substring($half))"
                        if ($nameBytes.Length -eq 0) { $dispositionLine = "Content-Disposition: $Disposition; filename*=utf-8''" }
                    }
                    'rfc2047' {
                        $dispositionLine += "; filename=`"=?utf-8?B?$([Convert]::ToBase64String([Text.Encoding]::UTF8.GetBytes($Name)))?=`""
                    }
                }
            }
            if ($ContentId) { $header += "`r`nContent-ID: <$ContentId>" }
            @{ Head = "$header`r`n$dispositionLine`r`nContent-Transfer-Encoding: base64"; Body = [Convert]::ToBase64String($Bytes, 'InsertLineBreaks') }
        }

        function New-RawMessage {
            # A multipart/mixed message with a text body and the given parts (or a ready body).
            param([string] $Subject = 'Attachments', [object[]] $Part = @(), [string] $MessageId = "$([guid]::NewGuid().ToString('n'))@example.com", [string] $Body)
            $head = "From: vendor@example.com`r`nTo: alice@example.com`r`nSubject: $Subject`r`nMessage-ID: <$MessageId>`r`nMIME-Version: 1.0`r`n"
            if ($Body) { return $head + $Body }
            $text = "--b0`r`nContent-Type: text/plain; charset=utf-8`r`n`r`nSee the attachments.`r`n"
            $parts = foreach ($p in $Part) { "--b0`r`n$($p.Head)`r`n`r`n$($p.Body)`r`n" }
            $head + "Content-Type: multipart/mixed; boundary=`"b0`"`r`n`r`n" + $text + ($parts -join '') + "--b0--`r`n"
        }

        function New-Bytes {
            # Distinct content for each attachment.
            param([int] $Seed, [int] $Length = 300)
            $random = [Random]::new($Seed)
            $bytes = [byte[]]::new($Length)
            $random.NextBytes($bytes)
            , $bytes
        }

        function Assert-Inside {
            # Every file under the test's folder is in -Destination, directly, and no temporary file is left.
            param([string] $Destination, [string] $Root)
            $destinationFull = [IO.Path]::GetFullPath($Destination).TrimEnd('/', '\')
            foreach ($file in Get-ChildItem -LiteralPath $Root -Recurse -File -Force) {
                if ($file.Extension -eq '.eml') { continue }
                [IO.Path]::GetDirectoryName($file.FullName) | Should -Be $destinationFull -Because "$($file.FullName) must be in the destination"
            }
            @(Get-ChildItem -LiteralPath $Destination -Force -Filter '*.partial').Count | Should -Be 0 -Because 'no temporary file is left'
        }

        function Get-Sha {
            param([byte[]] $Bytes)
            [Convert]::ToHexString([Security.Cryptography.SHA256]::HashData($Bytes))
        }
    }

    AfterAll {
        $mock.Dispose()
    }

    BeforeEach {
        $mock.Reset()
        $pop = New-Pop3Parameters $mock $alice
        $root = Join-Path $TestDrive ([guid]::NewGuid().ToString('n'))
        $out = Join-Path $root 'out'
        $inbox = Join-Path $root 'inbox'
        $null = New-Item -ItemType Directory $out, $inbox
    }

    Context 'hostile names, saved from an .eml file' {
        It '<Encoding> "<Shown>" is saved as <Expected>, inside the destination' -ForEach $hostileCases {
            $bytes = New-Bytes ($Shown.GetHashCode())
            $part = if ($null -eq $Sent) { New-Part -ContentType 'application/pdf' -Bytes $bytes } else { New-Part -ContentType 'application/pdf' -Name $Sent -Bytes $bytes -Encoding $Encoding }
            $eml = Join-Path $inbox 'hostile.eml'
            [IO.File]::WriteAllText($eml, (New-RawMessage -Part $part))

            $files = @(Save-MailAttachment -LiteralPath $eml -Destination $out -ErrorAction Stop)

            $files.Count | Should -Be 1
            $files[0].Name | Should -BeExactly $Expected
            $files[0].OriginalName | Should -Be $(if ($null -eq $Sent) { '' } else { $Sent })
            [IO.File]::ReadAllBytes($files[0].FullName) | Should -Be $bytes
            Assert-Inside $out $root
            Test-Path (Join-Path ([IO.Path]::GetTempPath()) 'escaped') | Should -BeFalse
        }
    }

    Context 'from the POP3 mailbox' {
        It 'saves every hostile attachment of a mailbox piped from Get-Pop3Message -IncludeBody, each inside the destination with its bytes' {
            $sent = @{}
            $i = 0
            foreach ($name in '../../../../tmp/escaped/pwned.pdf', '..', 'CON.txt', 'C:\evil.exe', '\\?\C:\x.pdf', "..$([char]0xFF0F)y.pdf", "nul$([char]0).txt") {
                foreach ($encoding in 'rfc2231', 'rfc2047') {
                    $i++
                    $bytes = New-Bytes $i
                    $sent[(Get-Sha $bytes)] = $name
                    $null = $mock.AddMessage('alice', (New-RawMessage -Subject "m$i" -Part (New-Part -ContentType 'application/pdf' -Name $name -Bytes $bytes -Encoding $encoding)))
                }
            }

            $files = @(Get-Pop3Message @pop -IncludeBody | Save-MailAttachment -Destination $out -ErrorAction Stop)

            $files.Count | Should -Be $i -Because 'every attachment has other bytes, so each is written once, colliding names with a suffix'
            foreach ($file in $files) {
                $sent[(Get-Sha ([IO.File]::ReadAllBytes($file.FullName)))] | Should -Be $file.OriginalName
                $file.Uid | Should -BeIn @($mock.GetMailbox('alice').Uid)
                $file.MessageId | Should -Match '@example\.com$'
            }
            @(Get-ChildItem $out -File).Count | Should -Be $i
            Assert-Inside $out $root
        }

        It 'saves from the .eml files that Get-Pop3Message -Destination wrote, piped as messages with SavedPath' {
            $a = New-Bytes 1; $b = New-Bytes 2
            $uid1 = $mock.AddMessage('alice', (New-RawMessage -Part (New-Part -Name 'one.csv' -Bytes $a)))
            $uid2 = $mock.AddMessage('alice', (New-RawMessage -Part (New-Part -Name 'two.csv' -Bytes $b)))
            $messages = Get-Pop3Message @pop -Destination $inbox
            @($messages | Where-Object Message).Count | Should -Be 0 -Because '-Destination keeps no message in memory'

            $files = @($messages | Save-MailAttachment -Destination $out)

            $files.Name | Should -Be @('one.csv', 'two.csv')
            $files.Uid | Should -Be @($uid1, $uid2)
            $files.SourcePath | Should -Be $messages.SavedPath
            [IO.File]::ReadAllBytes($files[0].FullName) | Should -Be $a
            [IO.File]::ReadAllBytes($files[1].FullName) | Should -Be $b
        }

        It 'writes MessageBodyNotRead for a message listed with its headers only' {
            $null = $mock.AddMessage('alice', (New-RawMessage -Part (New-Part -Name 'one.csv' -Bytes (New-Bytes 1))))
            $listed = Get-Pop3Message @pop
            $err = { $listed | Save-MailAttachment -Destination $out -ErrorAction Stop } | Should -Throw -PassThru
            $err.FullyQualifiedErrorId | Should -Be "MessageBodyNotRead$fqid"
            $err.TargetObject | Should -Be $listed.Uid
        }
    }

    Context 'names already taken, and re-runs' {
        It 'keeps two attachments of one message that share a name, and writes the same bytes only once' {
            $a = New-Bytes 1; $b = New-Bytes 2
            [IO.File]::WriteAllText((Join-Path $inbox 'm.eml'), (New-RawMessage -Part @(
                        (New-Part -Name 'report.csv' -Bytes $a), (New-Part -Name 'report.csv' -Bytes $b), (New-Part -Name 'report.csv' -Bytes $a))))

            $files = @(Save-MailAttachment -Path (Join-Path $inbox '*.eml') -Destination $out)

            $files.Count | Should -Be 2
            $files[0].Name | Should -Be 'report.csv'
            $files[1].Name | Should -Be "report ($((Get-Sha $b).Substring(0, 8).ToLowerInvariant())).csv"
            [IO.File]::ReadAllBytes($files[0].FullName) | Should -Be $a
            [IO.File]::ReadAllBytes($files[1].FullName) | Should -Be $b
            @(Get-ChildItem $out -Force).Count | Should -Be 2
        }

        It 'gives a name used by another message a suffix, and a re-run writes nothing, saying so in verbose output' {
            $a = New-Bytes 1; $b = New-Bytes 2
            [IO.File]::WriteAllText((Join-Path $inbox '1.eml'), (New-RawMessage -Part (New-Part -Name 'daily.csv' -Bytes $a)))
            [IO.File]::WriteAllText((Join-Path $inbox '2.eml'), (New-RawMessage -Part (New-Part -Name 'daily.csv' -Bytes $b)))

            $first = @(Save-MailAttachment -Path (Join-Path $inbox '*.eml') -Destination $out)
            $again = Invoke-Captured { Save-MailAttachment -Path (Join-Path $inbox '*.eml') -Destination $out }

            $first.Count | Should -Be 2
            $first[1].Name | Should -Match '^daily \([0-9a-f]{8}\)\.csv$'
            @($again.Records | Where-Object { $_ -is [IO.FileInfo] }).Count | Should -Be 0 -Because 'nothing is written twice'
            @($again.Records | Where-Object { $_ -is [Management.Automation.VerboseRecord] -and $_.Message -match '^Skipped .*same bytes' }).Count | Should -Be 2
            @(Get-ChildItem $out -Force).Count | Should -Be 2
            [IO.File]::ReadAllBytes($first[1].FullName) | Should -Be $b
        }

        It 'overwrites a file of the same name with -Force' {
            Set-Content (Join-Path $out 'daily.csv') 'old content'
            $a = New-Bytes 1
            [IO.File]::WriteAllText((Join-Path $inbox '1.eml'), (New-RawMessage -Part (New-Part -Name 'daily.csv' -Bytes $a)))

            $files = @(Save-MailAttachment -Path (Join-Path $inbox '*.eml') -Destination $out -Force)

            $files.Name | Should -Be 'daily.csv'
            [IO.File]::ReadAllBytes((Join-Path $out 'daily.csv')) | Should -Be $a
            @(Get-ChildItem $out -Force).Count | Should -Be 1
        }

        It 'replaces a temporary file left by a run that was killed, and leaves none' {
            $a = New-Bytes 1
            Set-Content (Join-Path $out '.daily.csv.0.partial') 'half'
            [IO.File]::WriteAllText((Join-Path $inbox '1.eml'), (New-RawMessage -Part (New-Part -Name 'daily.csv' -Bytes $a)))

            $files = @(Save-MailAttachment -Path (Join-Path $inbox '*.eml') -Destination $out)

            $files.Name | Should -Be 'daily.csv'
            [IO.File]::ReadAllBytes($files[0].FullName) | Should -Be $a
            @(Get-ChildItem $out -Force).Name | Should -Be 'daily.csv'
        }
    }

    Context 'which parts' {
        BeforeEach {
            $png = New-Bytes 7 64
            $pdf = New-Bytes 8 64
            $related = "Content-Type: multipart/related; boundary=`"r1`"`r`n`r`n" +
            "--r1`r`nContent-Type: text/html; charset=utf-8`r`n`r`n<p>Chart: <img src=`"cid:chart@x`"></p>`r`n" +
            "--r1`r`nContent-Type: image/png; name=`"chart.png`"`r`nContent-Disposition: inline; filename=`"chart.png`"`r`nContent-ID: <chart@x>`r`nContent-Transfer-Encoding: base64`r`n`r`n$([Convert]::ToBase64String($png))`r`n" +
            "--r1`r`nContent-Type: image/gif`r`nContent-ID: <logo@x>`r`nContent-Transfer-Encoding: base64`r`n`r`n$([Convert]::ToBase64String($png[0..9]))`r`n" +
            "--r1--`r`n"
            $body = "Content-Type: multipart/mixed; boundary=`"m1`"`r`n`r`n--m1`r`n$related--m1`r`nContent-Type: application/pdf`r`nContent-Disposition: attachment; filename=`"invoice.pdf`"`r`nContent-Transfer-Encoding: base64`r`n`r`n$([Convert]::ToBase64String($pdf))`r`n--m1--`r`n"
            $eml = Join-Path $inbox 'inline.eml'
            [IO.File]::WriteAllText($eml, (New-RawMessage -Body $body))
        }

        It 'saves attachments only, without the inline images or the bodies' {
            $files = @(Save-MailAttachment -LiteralPath $eml -Destination $out)
            $files.Name | Should -Be 'invoice.pdf'
            [IO.File]::ReadAllBytes($files[0].FullName) | Should -Be $pdf
        }

        It 'adds the inline images with -IncludeInline, an unnamed one named from its type' {
            $files = @(Save-MailAttachment -LiteralPath $eml -Destination $out -IncludeInline)
            $files.Name | Should -Be @('chart.png', 'attachment.gif', 'invoice.pdf')
            [IO.File]::ReadAllBytes($files[0].FullName) | Should -Be $png
            [IO.File]::ReadAllBytes($files[1].FullName) | Should -Be $png[0..9]
        }

        It 'keeps only the names -Filter matches (wildcards, any case); a message with no match is no error' {
            $files = @(Save-MailAttachment -LiteralPath $eml -Destination $out -IncludeInline -Filter '*.PNG', 'invoice*')
            $files.Name | Should -Be @('chart.png', 'invoice.pdf')
            $none = @(Save-MailAttachment -LiteralPath $eml -Destination (Join-Path $root 'inbox') -Filter '*.csv' -ErrorAction Stop)
            $none.Count | Should -Be 0
        }

        It 'saves the attachments of attached (forwarded) messages, at any depth' {
            $inner = New-Bytes 21; $deeper = New-Bytes 22
            $innermost = New-RawMessage -Subject 'deeper' -Part (New-Part -Name 'deeper.csv' -Bytes $deeper)
            $middle = New-RawMessage -Subject 'inner' -Body ("Content-Type: multipart/mixed; boundary=`"n1`"`r`n`r`n--n1`r`nContent-Type: text/plain`r`n`r`nFwd`r`n" +
                "--n1`r`nContent-Type: application/pdf`r`nContent-Disposition: attachment; filename=`"inner.pdf`"`r`nContent-Transfer-Encoding: base64`r`n`r`n$([Convert]::ToBase64String($inner))`r`n" +
                "--n1`r`nContent-Type: message/rfc822`r`nContent-Disposition: attachment`r`n`r`n$innermost`r`n--n1--`r`n")
            $outer = New-RawMessage -Subject 'outer' -Body ("Content-Type: multipart/mixed; boundary=`"o1`"`r`n`r`n--o1`r`nContent-Type: text/plain`r`n`r`nSee below`r`n" +
                "--o1`r`nContent-Type: message/rfc822`r`nContent-Disposition: attachment; filename=`"fwd.eml`"`r`n`r`n$middle`r`n--o1--`r`n")
            $null = $mock.AddMessage('alice', $outer)

            $files = @(Get-Pop3Message @pop -IncludeBody | Save-MailAttachment -Destination $out)

            $files.Name | Should -Be @('inner.pdf', 'deeper.csv')
            [IO.File]::ReadAllBytes($files[0].FullName) | Should -Be $inner
            [IO.File]::ReadAllBytes($files[1].FullName) | Should -Be $deeper
        }
    }

    Context 'paths and the pipeline' {
        BeforeEach {
            $a = New-Bytes 1
            [IO.File]::WriteAllText((Join-Path $inbox 'a[1].eml'), (New-RawMessage -Part (New-Part -Name 'a.csv' -Bytes $a)))
        }

        It 'takes FileInfo objects from Get-ChildItem as literal paths' {
            $files = @(Get-ChildItem $inbox -Filter *.eml | Save-MailAttachment -Destination $out)
            $files.Name | Should -Be 'a.csv'
            $files.SourcePath | Should -Be (Join-Path $inbox 'a[1].eml')
            $files.Uid | Should -BeNullOrEmpty -Because 'a[1].eml is no name that -Destination gives'
        }

        It 'takes -Path wildcards, and strings from the pipeline as -Path' {
            @(Save-MailAttachment -Path (Join-Path $inbox 'a*.eml') -Destination $out).Name | Should -Be 'a.csv'
            Remove-Item (Join-Path $out 'a.csv')
            @((Join-Path $inbox '*.eml') | Save-MailAttachment -Destination $out).Name | Should -Be 'a.csv'
        }

        It 'writes PathNotFound for a -Path that matches nothing, and for a missing -LiteralPath' {
            $err = { Save-MailAttachment -Path (Join-Path $inbox 'none*.eml') -Destination $out -ErrorAction Stop } | Should -Throw -PassThru
            $err.FullyQualifiedErrorId | Should -Be "PathNotFound$fqid"
            $err.TargetObject | Should -Be (Join-Path $inbox 'none*.eml')
            $err = { Save-MailAttachment -LiteralPath (Join-Path $inbox 'a*.eml') -Destination $out -ErrorAction Stop } | Should -Throw -PassThru
            $err.FullyQualifiedErrorId | Should -Be "PathNotFound$fqid"
        }

        It 'writes MessageUnreadable for a file that is no message, and goes on with the next' {
            [IO.File]::WriteAllBytes((Join-Path $inbox 'b.eml'), [byte[]]::new(0))
            $files = @(Save-MailAttachment -Path (Join-Path $inbox '*.eml') -Destination $out -ErrorVariable problems -ErrorAction SilentlyContinue)
            $files.Name | Should -Be 'a.csv'
            $problems.Count | Should -Be 1
            $problems[0].FullyQualifiedErrorId | Should -Be "MessageUnreadable$fqid"
            $problems[0].CategoryInfo.Category | Should -Be 'ReadError'
            $problems[0].TargetObject | Should -Be (Join-Path $inbox 'b.eml')
        }

        It 'writes DestinationNotFound for a folder that does not exist, and reads nothing' {
            $err = { Save-MailAttachment -Path (Join-Path $inbox '*.eml') -Destination (Join-Path $root 'missing') -ErrorAction Stop } | Should -Throw -PassThru
            $err.FullyQualifiedErrorId | Should -Be "DestinationNotFound$fqid"
        }

        It 'writes AttachmentWriteFailed with the file as target when the folder refuses the write, and leaves nothing' {
            # A folder where the temporary file must go: creating it fails as a full disk would.
            $null = New-Item -ItemType Directory (Join-Path $out '.a.csv.0.partial')
            $err = { Save-MailAttachment -Path (Join-Path $inbox '*.eml') -Destination $out -ErrorAction Stop } | Should -Throw -PassThru
            $err.FullyQualifiedErrorId | Should -Be "AttachmentWriteFailed$fqid"
            $err.CategoryInfo.Category | Should -Be 'WriteError'
            $err.TargetObject | Should -Be (Join-Path $out 'a.csv')
            Join-Path $out 'a.csv' | Should -Not -Exist
        }

        It 'writes nothing with -WhatIf, and passes no message on' {
            $files = @(Save-MailAttachment -Path (Join-Path $inbox '*.eml') -Destination $out -WhatIf)
            $files.Count | Should -Be 0
            $done = @(Save-MailAttachment -Path (Join-Path $inbox '*.eml') -Destination $out -WhatIf -PassThru)
            $done.Count | Should -Be 0 -Because 'a message whose attachments were not saved must not be handed on to Remove-Pop3Message'
            @(Get-ChildItem $out -Force).Count | Should -Be 0
        }

        It 'with -Confirm where no one can answer, writes ConfirmationRequired and nothing else' {
            # A runspace without a user interface, as a scheduled task has.
            $ps = [powershell]::Create()
            try {
                $null = $ps.AddScript("Import-Module '$modulePath'; Save-MailAttachment -Path '$(Join-Path $inbox '*.eml')' -Destination '$out' -Confirm")
                $output = $ps.Invoke()
                $output.Count | Should -Be 0
                $ps.Streams.Error.Count | Should -Be 1
                $ps.Streams.Error[0].FullyQualifiedErrorId | Should -Be "ConfirmationRequired$fqid"
            }
            finally { $ps.Dispose() }
            @(Get-ChildItem $out -Force).Count | Should -Be 0
        }

        It 'outputs, with -PassThru, each message whose attachments are all saved, with its UID for Remove-Pop3Message' {
            $uid1 = $mock.AddMessage('alice', (New-RawMessage -Part (New-Part -Name 'one.csv' -Bytes (New-Bytes 1))))
            $uid2 = $mock.AddMessage('alice', (New-RawMessage -Subject 'no attachment'))
            $null = Get-Pop3Message @pop -Destination $inbox
            Remove-Item -LiteralPath (Join-Path $inbox 'a[1].eml')

            $done = @(Save-MailAttachment -Path (Join-Path $inbox '*.eml') -Destination $out -PassThru)

            $done.Uid | Should -Be @($uid1, $uid2)
            @(Get-ChildItem $out).Name | Should -Be 'one.csv'
            $done | Remove-Pop3Message @pop -Confirm:$false
            $mock.GetMailbox('alice').Count | Should -Be 0
        }
    }

    Context 'the recipe of the README, killed at any point' {
        It 'loses nothing, deletes from the server only what was saved, and saves nothing twice when killed and run again' {
            $readme = (Get-Content (Join-Path $PSScriptRoot '../README.md') -Raw) -replace "`r`n", "`n"
            $section = ($readme -split '(?m)^## Save-MailAttachment[ ]*$', 2)[1]
            $code = [regex]::Match($section, '(?ms)^```powershell\n(.*?)^```').Groups[1].Value
            $code | Should -Match 'Save-MailAttachment -Path'
            # The README's own $pop line reads a credential file; here the prelude gives $pop.
            $code = (($code -split "`n") | Where-Object { $_ -notmatch '^\$pop = ' }) -join "`n"
            $drive = Join-Path $root 'D'
            foreach ($folder in 'Inbox', 'Files', 'Done') { $null = New-Item -ItemType Directory (Join-Path $drive "Vendor/$folder") }
            $script = Join-Path $root 'recipe.ps1'
            Set-Content -LiteralPath $script -Value (@(
                    "Import-Module '$modulePath'"
                    "`$null = New-PSDrive -Name D -PSProvider FileSystem -Root '$drive'"
                    "`$pop = @{ Pop3Server = '$($mock.Host)'; Port = $($mock.Pop3Port); SkipCertificateCheck = `$true; Credential = [pscredential]::new('alice', (ConvertTo-SecureString 'Secr3t!Pa55' -AsPlainText -Force)) }"
                    $code
                ) -join "`n")

            $hashesOf = @{}
            $all = @{}
            for ($i = 1; $i -le 80; $i++) {
                $parts = @(
                    $bytes = New-Bytes (1000 + $i) 2000
                    $all[(Get-Sha $bytes)] = $true
                    New-Part -Name $(if ($i % 7 -eq 0) { 'daily.csv' } else { "file-$i.csv" }) -Bytes $bytes
                    if ($i % 3 -eq 0) {
                        $second = New-Bytes (5000 + $i) 500
                        $all[(Get-Sha $second)] = $true
                        New-Part -Name '../../summary.pdf' -Bytes $second -Encoding rfc2231
                    }
                )
                $uid = $mock.AddMessage('alice', (New-RawMessage -Subject "m$i" -Part $parts))
                $hashesOf[$uid] = @($parts | ForEach-Object { Get-Sha ([Convert]::FromBase64String($_.Body)) })
            }
            $files = Join-Path $drive 'Vendor/Files'

            function Invoke-Recipe([scriptblock] $KillWhen) {
                # Runs the recipe in its own pwsh; with -KillWhen, kills it (the whole process
                # tree, at once) as soon as that condition holds, polled every few milliseconds.
                $start = [Diagnostics.ProcessStartInfo]::new((Join-Path $PSHOME 'pwsh'))
                foreach ($argument in '-NoProfile', '-NonInteractive', '-File', $script) { $start.ArgumentList.Add($argument) }
                $start.RedirectStandardOutput = $true
                $start.RedirectStandardError = $true
                $process = [Diagnostics.Process]::Start($start)
                $null = $process.StandardOutput.ReadToEndAsync(); $null = $process.StandardError.ReadToEndAsync()
                $watch = [Diagnostics.Stopwatch]::StartNew()
                $killed = $false
                while ($KillWhen -and -not $process.HasExited -and $watch.Elapsed.TotalSeconds -lt 120) {
                    if (& $KillWhen) { $process.Kill($true); $killed = $true; break }
                    Start-Sleep -Milliseconds 5
                }
                if (-not $process.WaitForExit(120000)) { $process.Kill($true); throw 'The recipe did not end within 120 s.' }
                $process.WaitForExit()
                $null = $mock.WaitForIdle(5000)
                $killed
            }

            function Assert-NothingLost([string] $When) {
                $onDisk = @{}
                foreach ($file in Get-ChildItem $files -File | Where-Object Name -NotLike '.*') {
                    $sha = Get-Sha ([IO.File]::ReadAllBytes($file.FullName))
                    $all.ContainsKey($sha) | Should -BeTrue -Because "$When, $($file.Name) must hold a whole attachment"
                    $onDisk[$sha] = $true
                }
                $left = @($mock.GetMailbox('alice').Uid)
                foreach ($uid in $hashesOf.Keys | Where-Object { $_ -notin $left }) {
                    foreach ($sha in $hashesOf[$uid]) {
                        $onDisk.ContainsKey($sha) | Should -BeTrue -Because "$When, message $uid was deleted from the server, so its attachments must be saved"
                    }
                }
            }

            $inboxFolder = Join-Path $drive 'Vendor/Inbox'
            $doneFolder = Join-Path $drive 'Vendor/Done'
            # Killed while downloading, while saving attachments, once the server deleted, while filing.
            $moments = [ordered]@{
                'while downloading'         = { @(Get-ChildItem $inboxFolder).Count -ge 20 }
                'while saving attachments'  = { @(Get-ChildItem $files).Count -ge 40 }
                'after the server deleted'  = { $mock.GetMailbox('alice').Count -lt $hashesOf.Count }
                'while filing the messages' = { @(Get-ChildItem $doneFolder).Count -ge 1 }
            }
            foreach ($moment in $moments.Keys) {
                Invoke-Recipe $moments[$moment] | Should -BeTrue -Because "the run must be stopped $moment, not end by itself"
                Assert-NothingLost "after a run killed $moment"
            }
            $null = Invoke-Recipe $null
            Assert-NothingLost 'after the last run'

            $mock.GetMailbox('alice').Count | Should -Be 0
            $final = @(Get-ChildItem $files -Force)
            $final.Count | Should -Be $all.Count -Because 'every attachment is saved exactly once, and no temporary file is left'
            @(Get-ChildItem (Join-Path $drive 'Vendor/Done') -Filter *.eml).Count | Should -Be 80
            @(Get-ChildItem (Join-Path $drive 'Vendor/Inbox') -Filter *.eml).Count | Should -Be 0
            Assert-Inside $files $files
        }
    }

    Context 'a mailbox of 1,000 messages' {
        It 'saves every attachment once with its bytes, and a re-run writes nothing' {
            $expected = @{}
            for ($i = 1; $i -le 1000; $i++) {
                $bytes = New-Bytes $i 200
                # Every tenth message reuses a name, so suffixes are needed too.
                $name = if ($i % 10 -eq 0) { 'daily.csv' } else { "report-$i.csv" }
                $expected[(Get-Sha $bytes)] = $name
                $null = $mock.AddMessage('alice', (New-RawMessage -Subject "m$i" -Part (New-Part -Name $name -Bytes $bytes)))
            }
            $saved = @(Get-Pop3Message @pop -Destination $inbox)
            $saved.Count | Should -Be 1000

            $files = @($saved | Save-MailAttachment -Destination $out)
            $again = @(Save-MailAttachment -Path (Join-Path $inbox '*.eml') -Destination $out)

            $files.Count | Should -Be 1000
            $again.Count | Should -Be 0 -Because 'a re-run writes nothing twice'
            $onDisk = @(Get-ChildItem $out -Force)
            $onDisk.Count | Should -Be 1000
            $seen = @{}
            foreach ($file in $onDisk) {
                $sha = Get-Sha ([IO.File]::ReadAllBytes($file.FullName))
                $expected.ContainsKey($sha) | Should -BeTrue -Because "$($file.Name) must hold the bytes of an attachment"
                $seen[$sha] = $true
            }
            $seen.Count | Should -Be 1000 -Because 'every attachment is on disk'
            Assert-Inside $out $root
        }
    }
}
