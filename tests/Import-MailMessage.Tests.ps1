Describe 'Import-MailMessage' {
    BeforeAll {
        . (Join-Path $PSScriptRoot 'common.ps1')
        $mock = New-MockServer
        $alice = [pscredential]::new('alice', (ConvertTo-SecureString 'Secr3t!Pa55' -AsPlainText -Force))
        $fqid = ',MailProtocols.Commands.ImportMailMessageCommand'

        # A message with RFC 2047 encoded words in its subject and names, an RFC 2231 name in
        # continuations, an HTML alternative and a Cc.
        $encoded = @(
            'From: =?utf-8?B?w4lsaW5lIE3DvGxsZXI=?= <eline@example.com>'
            'To: alice@example.com'
            'Cc: "Bob" <bob@example.com>'
            'Subject: =?utf-8?Q?R=C3=A9sum=C3=A9_f=C3=BCr_Zo=C3=AB?='
            'Date: Tue, 16 Jan 2024 10:30:00 +0100'
            'Message-ID: <encoded.1@example.com>'
            'MIME-Version: 1.0'
            'Content-Type: multipart/mixed; boundary="outer"'
            ''
            '--outer'
            'Content-Type: multipart/alternative; boundary="alt"'
            ''
            '--alt'
            'Content-Type: text/plain; charset=utf-8'
            'Content-Transfer-Encoding: 8bit'
            ''
            'Grüße, the text part.'
            '--alt'
            'Content-Type: text/html; charset=utf-8'
            ''
            '<p>the html part</p>'
            '--alt--'
            '--outer'
            'Content-Type: application/pdf'
            "Content-Disposition: attachment; filename*0*=utf-8''%C3%9Cberweisung%20;"
            ' filename*1*=M%C3%A4rz.pdf'
            'Content-Transfer-Encoding: base64'
            ''
            'JVBERi0xLjQK'
            '--outer'
            'Content-Type: text/csv; name="=?utf-8?Q?caf=C3=A9.csv?="'
            'Content-Disposition: attachment; filename="=?utf-8?Q?caf=C3=A9.csv?="'
            ''
            'a,b'
            '--outer--'
            ''
        ) -join "`r`n"

        function Save-Mailbox {
            # Saves alice's mailbox with Get-Pop3Message -Destination into a new folder.
            param([string] $Name)
            $folder = New-Item -ItemType Directory -Path (Join-Path $TestDrive $Name)
            $null = Get-Pop3Message @pop -Destination $folder
            $folder.FullName
        }

        function Get-Child {
            # Runs $Body in a child `pwsh -NonInteractive -File` with the module imported; the
            # printed lines and the exit code.
            param([string] $Body)
            $script = Join-Path $TestDrive "child-$([guid]::NewGuid().ToString('n')).ps1"
            Set-Content -LiteralPath $script -Value "Import-Module '$modulePath'`n$Body"
            $lines = @(& (Join-Path $PSHOME 'pwsh') -NoProfile -NonInteractive -File $script 2>&1 | ForEach-Object { "$_" })
            [pscustomobject]@{ ExitCode = $LASTEXITCODE; Lines = $lines; Output = $lines -join "`n" }
        }
    }

    AfterAll {
        $mock.Dispose()
    }

    BeforeEach {
        $mock.Reset()
        $pop = New-Pop3Parameters $mock $alice
    }

    Context 'the objects' {
        It 'are what Get-Pop3Message -IncludeBody gives for the same messages, property by property' {
            $null = $mock.AddTestMessages('alice', 2)
            $null = $mock.AddMessage('alice', $encoded)
            $listed = @(Get-Pop3Message @pop -IncludeBody)
            $folder = Save-Mailbox 'same'
            $imported = @(Import-MailMessage -Path $folder)
            $imported.Count | Should -Be 3
            $properties = (Get-EngineType 'MailProtocols.Engine.Pop3.Pop3Message').GetProperties().Name
            $properties.Count | Should -BeGreaterThan 15
            for ($i = 0; $i -lt 3; $i++) {
                foreach ($name in $properties) {
                    switch ($name) {
                        'Number' { $imported[$i].Number | Should -Be 0 }
                        'Message' { $imported[$i].Message | Should -BeNullOrEmpty -Because 'no message is held in memory' }
                        'AuthenticationMechanism' {
                            $listed[$i].AuthenticationMechanism | Should -Be 'PLAIN'
                            $imported[$i].AuthenticationMechanism | Should -BeNullOrEmpty -Because 'no session read it'
                        }
                        'SavedPath' { $imported[$i].SavedPath | Should -Be (Join-Path $folder "$($listed[$i].Uid).eml") }
                        default {
                            $got = ConvertTo-Json -InputObject $imported[$i].$name -Compress -Depth 3
                            $want = ConvertTo-Json -InputObject $listed[$i].$name -Compress -Depth 3
                            $got | Should -Be $want -Because "$name of message $($i + 1)"
                        }
                    }
                }
            }
        }

        It 'decode RFC 2047 subjects and senders, and RFC 2047 and RFC 2231 attachment names' {
            $file = Join-Path $TestDrive 'encoded.eml'
            [IO.File]::WriteAllText($file, $encoded)
            $message = Import-MailMessage -LiteralPath $file
            $message.Subject | Should -Be 'Résumé für Zoë'
            $message.From | Should -Match 'Éline Müller'
            @($message.AttachmentNames) | Should -Be @('Überweisung März.pdf', 'café.csv')
            $message.TextBody.Trim() | Should -Be 'Grüße, the text part.'
            $message.HtmlBody.Trim() | Should -Be '<p>the html part</p>'
            $message.Size | Should -Be (Get-Item $file).Length
        }
    }

    Context 'UIDs' {
        It 'recovers the UID from a name -Destination gave, and gives $null for any other name' {
            $null = $mock.AddMessage('alice', 'a/b:c*?<CON>.', [Text.Encoding]::ASCII.GetBytes("Subject: odd`r`n`r`nx`r`n"))
            $null = $mock.AddMessage('alice', 'con', [Text.Encoding]::ASCII.GetBytes("Subject: con`r`n`r`nx`r`n"))
            $null = $mock.AddMessage('alice', 'UID-17', [Text.Encoding]::ASCII.GetBytes("Subject: upper`r`n`r`nx`r`n"))
            $folder = Save-Mailbox 'uids'
            Copy-Item (Join-Path $folder '_con.eml') (Join-Path $folder 'Copy of con.eml')
            Copy-Item (Join-Path $folder '_con.eml') (Join-Path $folder 'CON.eml')
            $byName = @{}
            Import-MailMessage -Path $folder | ForEach-Object { $byName[(Split-Path $_.SavedPath -Leaf)] = $_.Uid }
            $byName.Count | Should -Be 5
            $byName['a_2Fb_3Ac_2A_3F_3C^c^o^n_3E..eml'] | Should -BeExactly 'a/b:c*?<CON>.'
            $byName['_con.eml'] | Should -BeExactly 'con'
            $byName['^u^i^d-17.eml'] | Should -BeExactly 'UID-17'
            $byName['Copy of con.eml'] | Should -BeNullOrEmpty
            $byName['CON.eml'] | Should -BeNullOrEmpty
        }

        It 'pipes to Remove-Pop3Message, which deletes exactly the imported messages' {
            $uids = $mock.AddTestMessages('alice', 5)
            $folder = Save-Mailbox 'remove'
            $chosen = Import-MailMessage -Path (Join-Path $folder '*.eml') | Where-Object Subject -In 'Test message 2', 'Test message 4'
            @($chosen.Uid) | Should -Be @($uids[1], $uids[3])
            $chosen | Remove-Pop3Message @pop -Force
            @($mock.GetMailbox('alice').Uid) | Should -Be @($uids[0], $uids[2], $uids[4])
            @($mock.Pop3Sessions[-1].DeletedUids) | Sort-Object | Should -Be (@($uids[1], $uids[3]) | Sort-Object)
        }
    }

    Context 'bodies read only when asked for' {
        It 'reads no body at import: a file deleted afterwards still lists, and its body names the file' {
            $null = $mock.AddTestMessages('alice', 1)
            $folder = Save-Mailbox 'deleted'
            $message = Import-MailMessage -Path $folder
            Remove-Item $message.SavedPath
            $message.Subject | Should -Be 'Test message 1'
            # PowerShell turns an exception of a property into $null; the getter called as a
            # method shows it.
            $message.TextBody | Should -BeNullOrEmpty
            $err = { $message.get_TextBody() } | Should -Throw -PassThru
            $err.Exception.InnerException.ErrorId | Should -Be 'MessageFileNotFound'
            $err.Exception.Message | Should -BeLike "*The message file '$($message.SavedPath)' no longer exists*"
            $err.Exception.Message | Should -Not -Match 'MimeKit'
            { $message.get_AttachmentNames() } | Should -Throw -ExpectedMessage '*no longer exists*'
        }

        It 'reads the body from the file when it is first asked for' {
            $file = Join-Path $TestDrive 'later.eml'
            [IO.File]::WriteAllText($file, "From: a@example.com`r`nSubject: later`r`n`r`nbody one`r`n")
            $time = (Get-Item $file).LastWriteTimeUtc
            $message = Import-MailMessage -LiteralPath $file
            # The same size and time, another body: what comes back is what the file holds now.
            [IO.File]::WriteAllText($file, "From: a@example.com`r`nSubject: later`r`n`r`nbody two`r`n")
            (Get-Item $file).LastWriteTimeUtc = $time
            $message.TextBody.Trim() | Should -Be 'body two'
        }

        It 'refuses a file that changed after the import: <Case>' -ForEach @(
            @{ Case = 'appended to'; Change = { param($f) [IO.File]::AppendAllText($f, "more`r`n") } }
            @{ Case = 'another message of the same size and time'; Change = {
                    param($f)
                    $time = (Get-Item $f).LastWriteTimeUtc
                    [IO.File]::WriteAllText($f, "From: a@example.com`r`nSubject: lat3r`r`n`r`nbody one`r`n")
                    (Get-Item $f).LastWriteTimeUtc = $time
                }
            }
        ) {
            $file = Join-Path $TestDrive "changed-$([guid]::NewGuid().ToString('n')).eml"
            [IO.File]::WriteAllText($file, "From: a@example.com`r`nSubject: later`r`n`r`nbody one`r`n")
            $message = Import-MailMessage -LiteralPath $file
            & $Change $file
            $err = { $message.get_HtmlBody() } | Should -Throw -PassThru
            $err.Exception.InnerException.ErrorId | Should -Be 'MessageFileChanged'
            $err.Exception.Message | Should -BeLike "*The message file '$file' changed after the message was read*"
        }

        It 'serves objects from Get-Pop3Message -Destination the same way: bodies from the saved file' {
            $null = $mock.AddMessage('alice', $encoded)
            $folder = New-Item -ItemType Directory -Path (Join-Path $TestDrive 'dest')
            $saved = @(Get-Pop3Message @pop -Destination $folder)
            $kept = @(Get-Pop3Message @pop -Destination (New-Item -ItemType Directory -Path (Join-Path $TestDrive 'dest2')))
            $kept[0].TextBody.Trim() | Should -Be 'Grüße, the text part.'
            $kept[0].HtmlBody.Trim() | Should -Be '<p>the html part</p>'
            @($kept[0].AttachmentNames) | Should -Be @('Überweisung März.pdf', 'café.csv')
            Remove-Item $saved[0].SavedPath
            $err = { $saved[0].get_TextBody() } | Should -Throw -PassThru
            $err.Exception.InnerException.ErrorId | Should -Be 'MessageFileNotFound'
            # Attachment names too come from the file (the README says so): read as a property,
            # as Select-Object reads it, they are empty; the getter names the missing file.
            ($saved[0] | Select-Object AttachmentNames).AttachmentNames | Should -BeNullOrEmpty
            { $saved[0].get_AttachmentNames() } | Should -Throw -ExpectedMessage '*no longer exists*'
        }
    }

    Context 'paths and the pipeline' {
        BeforeAll {
            $tree = New-Item -ItemType Directory -Path (Join-Path $TestDrive 'tree')
            $sub = New-Item -ItemType Directory -Path (Join-Path $tree 'sub')
            foreach ($name in 'a.eml', 'b.eml', 'x[1].eml', 'sub/c.eml') {
                [IO.File]::WriteAllText((Join-Path $tree $name), "From: a@example.com`r`nSubject: $name`r`n`r`nx`r`n")
            }
            [IO.File]::WriteAllText((Join-Path $tree 'notes.txt'), 'not mail')
        }

        It 'takes -Path with wildcards' {
            @(Import-MailMessage -Path (Join-Path $tree '?.eml')).Subject | Should -Be @('a.eml', 'b.eml')
        }

        It 'takes a folder on the command line as its .eml files, and passes over a folder a wildcard matches' {
            @(Import-MailMessage $tree).Subject | Should -Be @('a.eml', 'b.eml', 'x[1].eml')
            @(Import-MailMessage -Path (Join-Path $tree 's*')).Count | Should -Be 0
        }

        It 'takes -LiteralPath without wildcards' {
            (Import-MailMessage -LiteralPath (Join-Path $tree 'x[1].eml')).Subject | Should -Be 'x[1].eml'
        }

        It 'takes files from Get-ChildItem by PSPath (each once with -Recurse) and strings by value' {
            @(Get-ChildItem $tree -Recurse -Filter *.eml | Import-MailMessage).Subject | Sort-Object | Should -Be @('a.eml', 'b.eml', 'sub/c.eml', 'x[1].eml')
            @((Join-Path $tree 'a.eml'), (Join-Path $tree 'b.eml') | Import-MailMessage).Subject | Should -Be @('a.eml', 'b.eml')
        }
    }

    Context 'errors' {
        BeforeAll {
            $bad = New-Item -ItemType Directory -Path (Join-Path $TestDrive 'bad')
            [IO.File]::WriteAllBytes((Join-Path $bad 'empty.eml'), [byte[]]@())
            [IO.File]::WriteAllBytes((Join-Path $bad 'binary.eml'), [byte[]](0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0x00, 0x00, 0x00, 0x0D))
            [IO.File]::WriteAllText((Join-Path $bad 'text.eml'), "Note: buy milk`r`n")
            [IO.File]::WriteAllText((Join-Path $bad 'good.eml'), "From: a@example.com`r`nSubject: good`r`n`r`nx`r`n")
        }

        It 'writes <ErrorId> for <Case>, with the path as target, and goes on' -ForEach @(
            @{ Case = 'an empty file'; Target = 'bad/empty.eml'; ErrorId = 'NotAMailMessage'; Category = 'InvalidData' }
            @{ Case = 'a binary file'; Target = 'bad/binary.eml'; ErrorId = 'NotAMailMessage'; Category = 'InvalidData' }
            @{ Case = 'text without mail header fields'; Target = 'bad/text.eml'; ErrorId = 'NotAMailMessage'; Category = 'InvalidData' }
            @{ Case = 'a pattern that matches nothing'; Target = 'bad/none*.eml'; ErrorId = 'PathNotFound'; Category = 'ObjectNotFound' }
            @{ Case = 'a file that does not exist'; Target = 'bad/missing.eml'; ErrorId = 'PathNotFound'; Category = 'ObjectNotFound' }
        ) {
            $target = Join-Path $TestDrive $Target
            $good = Join-Path $bad 'good.eml'
            $printed = Import-MailMessage -Path $target, $good -ErrorAction SilentlyContinue -ErrorVariable err *>&1
            @($printed).Count | Should -Be 1 -Because 'the error is not printed; the good file is still imported'
            $printed.Subject | Should -Be 'good'
            $err.Count | Should -Be 1
            $err[0].FullyQualifiedErrorId | Should -Be "$ErrorId$fqid"
            "$($err[0].CategoryInfo.Category)" | Should -Be $Category
            $err[0].TargetObject | Should -Be $target
        }

        It 'writes FileReadFailed for a file that cannot be read' {
            $locked = Join-Path $bad 'locked.eml'
            [IO.File]::WriteAllText($locked, "From: a@example.com`r`nSubject: locked`r`n`r`nx`r`n")
            $holder = [IO.File]::Open($locked, 'Open', 'ReadWrite', 'None')
            try {
                Import-MailMessage -LiteralPath $locked -ErrorAction SilentlyContinue -ErrorVariable err | Should -BeNullOrEmpty
            }
            finally { $holder.Dispose() }
            $err[0].FullyQualifiedErrorId | Should -Be "FileReadFailed$fqid"
            "$($err[0].CategoryInfo.Category)" | Should -Be 'ReadError'
            $err[0].TargetObject | Should -Be $locked
        }

        It 'writes NotAFileSystemPath for a path of another provider' {
            Import-MailMessage -Path Env:PATH -ErrorAction SilentlyContinue -ErrorVariable err | Should -BeNullOrEmpty
            $err[0].FullyQualifiedErrorId | Should -Be "NotAFileSystemPath$fqid"
        }

        It 'keeps the error contract in a script (pwsh -NonInteractive -File)' {
            $empty = Join-Path $bad 'empty.eml'
            $silent = Get-Child @"
Import-MailMessage -Path '$empty' -ErrorAction SilentlyContinue -ErrorVariable ev
"ok=`$?"
"id=`$(`$ev[0].FullyQualifiedErrorId)"
"target=`$(`$ev[0].TargetObject)"
"count=`$(`$ev.Count)"
'NEXT-LINE-RAN'
"@
            $silent.ExitCode | Should -Be 0 -Because $silent.Output
            $silent.Lines | Should -Be @('ok=False', "id=NotAMailMessage$fqid", "target=$empty", 'count=1', 'NEXT-LINE-RAN')

            $stop = Get-Child "Import-MailMessage -LiteralPath '$empty' -ErrorAction Stop`n'NEXT-LINE-RAN'"
            $stop.ExitCode | Should -Be 1
            $stop.Lines | Should -Not -Contain 'NEXT-LINE-RAN'
            # The error view wraps the message over lines that start with '|'.
            $stop.Output -replace '\x1b\[[0-9;]*m' -replace '\s*\n\s*\|\s*', ' ' | Should -Match 'is not a mail message: it is empty'
        }
    }
}
