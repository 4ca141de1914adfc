"""Writes cases.json: the .env cases of the differential suite (tests/dialects.rs).

Each case: its class, the file text, the process environment (optional), and what
docker compose v2 reads (`go`, worked out from compose-go's dotenv/parser.go, dotenv/env.go and
template/template.go; `go_error` when compose-go refuses the file). The podman-compose
references are not written here: the test runs them.
"""
import json
import os
T="SERVICE_APP_IMAGE_TAGGED"; H="SERVICE_APP_IMAGE_HASHED"
R="127.0.0.1:5000/app:1"
P="127.0.0.1:5000/app@sha256:"+"0"*64
N=None
cases=[]
def c(cls, text, go, env=None, note=None, cipug_refuses=None):
    d={"class":cls,"text":text}
    if go=="ERR": d["go_error"]=True
    else: d["go"]=go
    if env: d["env"]=env
    if note: d["note"]=note
    if cipug_refuses: d["cipug_refuses"]=cipug_refuses
    cases.append(d)
# quoting
q="quoting"
c(q,f"{T}={R}\n",{T:R,H:N})
c(q,f"{T}='{R}'\n",{T:R,H:N})
c(q,f'{T}="{R}"\n',{T:R,H:N})
c(q,f"{T}={R}\n{H}={P}\n",{T:R,H:P})
c(q,f"{T}={R}\n{H}='{P}'\n",{T:R,H:P})
c(q,f'{T}={R}\n{H}="{P}"\n',{T:R,H:P})
c(q,f"{T} = {R}\n",{T:R,H:N})
c(q,f"{T}=  '{R}'  \n",{T:R,H:N})
c(q,f'{T}="{R}"junk\n',{T:R,H:N,"junk":N}, note="compose-go starts a new statement after the closing quote")
c(q,f"{T}='{R}\n",'ERR', note="unterminated single quote")
c(q,f'{T}="{R}\n',"ERR", note="unterminated double quote")
c(q,f"A='x y'\n{T}={R}\n",{T:R,H:N,"A":"x y"})
c(q,f'A="x # y"\n{T}={R}\n',{T:R,H:N,"A":"x # y"})
c(q,f"A=x y z\n{T}={R}\n",{T:R,H:N,"A":"x y z"})
c(q,f"{T}={R}\n{H}=''\n",{T:R,H:""})
c(q,f"{T}={R}\n{H}=\n",{T:R,H:""})
c(q,f'{T}={R}\n{H}=""\n',{T:R,H:""})
c(q,f"{T}='127.0.0.1:5000/a''pp:1'\n","ERR", note="compose-go: a second quoted string after the first starts a new statement, with a bad key")
# escapes
e="escapes"
c(e,f'A="a\\nb"\n{T}={R}\n',{T:R,H:N,"A":"a\nb"})
c(e,f'A="a\\tb"\n{T}={R}\n',{T:R,H:N,"A":"a\tb"})
c(e,f'A="a\\\\b"\n{T}={R}\n',{T:R,H:N,"A":"a\\b"})
c(e,f'A="say \\"hi\\""\n{T}={R}\n',{T:R,H:N,"A":'say "hi"'})
c(e,f'B=x\nA="cost \\$B"\n{T}={R}\n',{T:R,H:N,"A":"cost $B"}, note="\\$ is a literal dollar for compose-go, a backslash and `$B` for python-dotenv")
c(e,f'V=1\n{T}="127.0.0.1:5000/app:\\$V"\n',{T:"127.0.0.1:5000/app:$V",H:N})
c(e,f"A='it\\'s'\n{T}={R}\n",{T:R,H:N,"A":"it\\'s"})
c(e,f"{T}='127.0.0.1:5000/app\\':1'\n",{T:"127.0.0.1:5000/app\\':1",H:N})
c(e,f'A="x\\\\"\n{T}={R}\n',"ERR", note="compose-go: a quote after a backslash never closes, so the value runs on")
c(e,f'A="x\\\\"\n{T}={R}\n"\n',{T:N,H:N,"A":'x\\"\n'+T+"="+R+"\n"}, note="compose-go reads A up to the last quote; the TAGGED line is inside it")
c(e,f"A='x\\\\'\n{T}={R}\n","ERR", note="single quote after a backslash: compose-go runs on to the end; python-dotenv 0.21 backtracks")
c(e,f'A="\\u00e9"\n{T}={R}\n',{T:R,H:N,"A":"\\u00e9"})
c(e,f'A="\\x41"\n{T}={R}\n',{T:R,H:N,"A":"\\x41"})
c(e,f'A="\\0101"\n{T}={R}\n',{T:R,H:N,"A":"A"})
c(e,f'A="a\\rb"\n{T}={R}\n',{T:R,H:N,"A":"a\rb"})
c(e,f"A='a\\nb'\n{T}={R}\n",{T:R,H:N,"A":"a\\nb"})
c(e,f'{T}="127.0.0.1:5000/app\\t:1"\n',{T:"127.0.0.1:5000/app\t:1",H:N}, cipug_refuses="not an image reference")
c(e,f'{T}="{R}"\n{H}="{P}\\n"\n',{T:R,H:P+"\n"})
# multi-line
m="multi-line"
c(m,f'A="line1\nline2"\n{T}={R}\n',{T:R,H:N,"A":"line1\nline2"})
c(m,f"A='line1\nline2'\n{T}={R}\n",{T:R,H:N,"A":"line1\nline2"})
c(m,f'A="x\n{T}=evil\n"\n{T}={R}\n',{T:R,H:N})
c(m,f"A='x\n{H}=evil\n'\n{T}={R}\n",{T:R,H:N})
c(m,f'A="multi\r\nline"\r\n{T}={R}\r\n',{T:R,H:N,"A":"multi\r\nline"})
c(m,f'A="\n"\n{T}={R}\n{H}={P}\n',{T:R,H:P})
c(m,f"A='\n\n\n'\n{T}={R}\n",{T:R,H:N})
c(m,f'{T}="{R}\n"\n',{T:R+"\n",H:N}, cipug_refuses="not an image reference")
# comments
k="comments"
c(k,f"# head\n{T}={R}\n",{T:R,H:N})
c(k,f"{T}={R} # comment\n",{T:R,H:N})
c(k,f"{T}={R}#nocomment\n",{T:R+"#nocomment",H:N}, cipug_refuses="not an image reference")
c(k,f"{T}={R}\t# tab comment\n",{T:R+"\t# tab comment",H:N}, note="compose-go cuts only at space-hash")
c(k,f"{T}={R}\n{H}=#x\n",{T:R,H:"#x"})
c(k,f"{T}={R}\n{H}= #x\n",{T:R,H:"#x"}, note="python-dotenv 1.2 reads an empty value")
c(k,f"{T}={R}\n{H}=  # comment\n",{T:R,H:"# comment"})
c(k,f"{T}={R}\n{H}={P} #c\n",{T:R,H:P})
c(k,f"{T}={R}\n{H}={P}#c\n",{T:R,H:P+"#c"})
c(k,f"{T}='{R}' # c\n",{T:R,H:N})
c(k,f'{T}="{R}"# c\n',{T:R,H:N})
c(k,f"  # indented comment\n{T}={R}\n",{T:R,H:N})
c(k,f"#{T}=other\n{T}={R}\n",{T:R,H:N})
c(k,f"# {H}={P}\n{T}={R}\n",{T:R,H:N})
c(k,f"A=x ## y\n{T}={R}\n",{T:R,H:N,"A":"x"})
c(k,f"A=x#y #z\n{T}={R}\n",{T:R,H:N,"A":"x#y"})
c(k,f"#\n#\n{T}={R}\n#",{T:R,H:N})
# export
x="export"
c(x,f"export {T}={R}\n",{T:R,H:N})
c(x,f"export {T}={R}\nexport {H}={P}\n",{T:R,H:P})
c(x,f"export\t{T}={R}\n",{T:R,H:N})
c(x,f"export  {T}='{R}'\n",{T:R,H:N})
c(x,f"export A=1\n{T}=127.0.0.1:5000/app:${{A}}\n",{T:"127.0.0.1:5000/app:1",H:N})
c(x,f"exportA=1\n{T}={R}\n",{T:R,H:N,"exportA":"1"})
c(x,f"  export {T}={R}\n",{T:R,H:N})
# line endings
l="line endings"
c(l,f"{T}={R}\r\n{H}={P}\r\n",{T:R,H:P})
c(l,f"{T}={R}\r\n",{T:R,H:N})
c(l,f"{T}={R}\n{H}={P}",{T:R,H:P})
c(l,f"{T}={R}",{T:R,H:N})
c(l,f"{T}={R}\r{H}={P}\r",{T:R+"\r"+H+"="+P,H:N}, note="lone CR: python-dotenv ends lines there, compose-go does not")
c(l,f"{T}={R}\r",{T:R,H:N})
c(l,f"A=1\r{T}={R}\n",{T:N,H:N,"A":"1\r"+T+"="+R})
c(l,f"{T}={R}\n{H}={P}\r\n",{T:R,H:P})
c(l,f"{T}='{R}'\r\n",{T:R,H:N})
c(l,f'{T}="{R}"\r\n',{T:R,H:N})
c(l,f"\n\n\r\n{T}={R}\n\n",{T:R,H:N})
c(l,f"{T}={R}\n{H}='{P}'\r",{T:R,H:P})
c(l,f"A=x\r\r\n{T}={R}\r\n",{T:R,H:N,"A":"x"})
# BOM
b="byte order mark"
c(b,f"\ufeff{T}={R}\n",{T:R,H:N}, note="python-dotenv 0.21 keeps the BOM in the first key")
c(b,f"\ufeff# c\n{T}={R}\n",{T:R,H:N})
c(b,f"\ufeff\n{T}={R}\n{H}={P}\n",{T:R,H:P})
c(b,f"\ufeffA=1\n{T}={R}\n",{T:R,H:N,"A":"1"})
c(b,f"{T}={R}\n\ufeff{H}={P}\n","ERR", note="a BOM inside the file is not white space")
# duplicate keys
d="duplicate keys"
c(d,f"{T}={R}\n{T}=127.0.0.1:5000/app:2\n",{T:"127.0.0.1:5000/app:2",H:N}, cipug_refuses="set twice")
c(d,f"{T}={R}\n{H}={P}\n{H}={P}\n",{T:R,H:P}, cipug_refuses="set twice")
c(d,f"A=1\nA=2\n{T}={R}\n",{T:R,H:N,"A":"2"})
c(d,f"V=1\n{T}=127.0.0.1:5000/app:${{V}}\nV=2\n",{T:"127.0.0.1:5000/app:1",H:N,"V":"2"})
# interpolation forms
i="interpolation"
c(i,f"V=1\n{T}=127.0.0.1:5000/app:${{V}}\n",{T:"127.0.0.1:5000/app:1",H:N})
c(i,f"V=1\n{T}=127.0.0.1:5000/app:$V\n",{T:"127.0.0.1:5000/app:1",H:N}, note="python-dotenv does not expand $V")
c(i,f"{T}=127.0.0.1:5000/app:${{V:-2}}\n",{T:"127.0.0.1:5000/app:2",H:N})
c(i,f"V=\n{T}=127.0.0.1:5000/app:${{V:-2}}\n",{T:"127.0.0.1:5000/app:2",H:N}, note="python-dotenv takes the default only when unset")
c(i,f"V=3\n{T}=127.0.0.1:5000/app:${{V:-2}}\n",{T:"127.0.0.1:5000/app:3",H:N})
c(i,f"{T}=127.0.0.1:5000/app:${{V-2}}\n",{T:"127.0.0.1:5000/app:2",H:N})
c(i,f"W=4\n{T}=127.0.0.1:5000/app:${{V:-${{W}}}}\n",{T:"127.0.0.1:5000/app:4",H:N})
c(i,f"{T}=127.0.0.1:5000/app:${{V:-${{W:-5}}}}\n",{T:"127.0.0.1:5000/app:5",H:N})
c(i,f"{T}=127.0.0.1:5000/app$$:1\n",{T:"127.0.0.1:5000/app$:1",H:N}, cipug_refuses="disagree")
c(i,f"V=1\n{T}=\"127.0.0.1:5000/app:${{V}}\"\n",{T:"127.0.0.1:5000/app:1",H:N})
c(i,f"V=1\n{T}='127.0.0.1:5000/app:${{V}}'\n",{T:"127.0.0.1:5000/app:${V}",H:N}, note="single quotes: literal for compose-go, interpolated by python-dotenv")
c(i,f"REG=127.0.0.1:5000\nIMG=${{REG}}/app\n{T}=${{IMG}}:1\n",{T:R,H:N})
c(i,f"{T}=127.0.0.1:5000/app:${{V:?missing}}\n","ERR", note="compose-go: a required variable that is unset fails")
c(i,f"V=1\n{T}=127.0.0.1:5000/app:${{V:+x}}\n","ERR", note="compose-go knows no `:+`")
c(i,f"V=1\n{T}=127.0.0.1:5000/app:${{V}}\n{H}=${{X:-{P}}}\n",{T:"127.0.0.1:5000/app:1",H:P})
c(i,f"{T}={R}\n{H}=${{{T}}}\n",{T:R,H:R})
c(i,f"V=1\n{T}=127.0.0.1:5000/app:${{ V }}\n","ERR", note="names with blanks: an invalid template for compose-go")
c(i,f"V=1\n{T}=127.0.0.1:5000/app:${{V}}${{V}}\n",{T:"127.0.0.1:5000/app:11",H:N})
c(i,f"v=1\n{T}=127.0.0.1:5000/app:${{v}}\n",{T:"127.0.0.1:5000/app:1",H:N})
c(i,f"{T}=127.0.0.1:5000/app:1$\n","ERR", note="a trailing $ is an invalid template for compose-go")
# use before definition
u="use before definition"
c(u,f"{T}=127.0.0.1:5000/app:${{V}}\nV=1\n",{T:"127.0.0.1:5000/app:",H:N,"V":"1"}, cipug_refuses="not set above")
c(u,f"{T}=127.0.0.1:5000/app:${{V:-9}}\nV=1\n",{T:"127.0.0.1:5000/app:9",H:N,"V":"1"})
c(u,f"{T}=${{REG}}/app:1\nREG=127.0.0.1:5000\n",{T:"/app:1",H:N}, cipug_refuses="not set above")
c(u,f"IMG=${{REG}}/app:1\nREG=127.0.0.1:5000\n{T}=${{IMG}}\n",{T:"/app:1",H:N}, note="a chain uses a variable defined below")
# redefinition
r="redefinition"
c(r,f"V=1\n{T}=127.0.0.1:5000/app:${{V}}\nV=2\n",{T:"127.0.0.1:5000/app:1",H:N,"V":"2"})
c(r,f"V=1\nV=2\n{T}=127.0.0.1:5000/app:${{V}}\n",{T:"127.0.0.1:5000/app:2",H:N})
c(r,f"V=1\nV=\n{T}=127.0.0.1:5000/app:${{V:-3}}\n",{T:"127.0.0.1:5000/app:3",H:N})
c(r,f"V=1\nW=${{V}}\nV=2\n{T}=127.0.0.1:5000/app:${{W}}${{V}}\n",{T:"127.0.0.1:5000/app:12",H:N})
c(r,f"{T}={R}\n{H}={P}\n{T}x=1\n",{T:R,H:P,T+"x":"1"})
# environment overrides
v="environment"
EV=P.replace("0"*64,"f"*64)
c(v,f"{T}={R}\n{H}={P}\n",{T:R,H:P}, env={H:EV})
c(v,f"{T}={R}\n",{T:R,H:N}, env={H:EV})
c(v,f"V=1\n{T}=127.0.0.1:5000/app:${{V}}\n{H}={P}\n",{T:"127.0.0.1:5000/app:1",H:P}, env={"V":"7"})
c(v,f"{T}=127.0.0.1:5000/app:${{V:-1}}\n{H}={P}\n",{T:"127.0.0.1:5000/app:1",H:P}, env={"V":"7"})
c(v,f"{T}={R}\n{H}={P}\n",{T:R,H:P}, env={T:"127.0.0.1:5000/other:1","SERVICE_DB_IMAGE_HASHED":"x"})
c(v,f"REG=127.0.0.1:5000\nIMG=${{REG}}/app\n{T}=${{IMG}}:1\n{H}={P}\n",{T:R,H:P}, env={"REG":"evil.io","IMG":"evil.io/x"})
c(v,f"{T}={R}\n{H}=${{PIN}}\n",{T:R,H:""}, env={"PIN":EV})
c(v,f"{T}={R}\n{H}\n",{T:R,H:N}, env={H:EV}, note="a key-only line takes the value from the environment")
# odd keys
o="odd keys"
c(o,f"my.key=1\n{T}={R}\n",{T:R,H:N,"my.key":"1"})
c(o,f"my-key=1\n{T}={R}\n",{T:R,H:N,"my-key":"1"})
c(o,f"my/key=1\n{T}={R}\n","ERR")
c(o,f"A B=1\n{T}={R}\n","ERR")
c(o,f"{T}: {R}\n",{T:R,H:N}, note="compose-go also takes `KEY: value`")
c(o,f"'{T}'={R}\n","ERR", note="python-dotenv takes single-quoted keys")
c(o,f"=x\n{T}={R}\n",{T:R,H:N,"":"x"}, cipug_refuses="expected a variable name")
c(o,f"{T}={R}\nlonely\n",{T:R,H:N,"lonely":N})
c(o,f"{T}={R}\nlonely",{T:R,H:N})
c(o,f"KEY\u00e9=1\n{T}={R}\n",{T:R,H:N,"KEY\u00e9":"1"})
c(o,f"a[0]=1\n{T}={R}\n",{T:R,H:N})
c(o,f"SERVICE_A_B_IMAGE_TAGGED={R}\nSERVICE_A_B_IMAGE_HASHED={P}\n",{"SERVICE_A_B_IMAGE_TAGGED":R,"SERVICE_A_B_IMAGE_HASHED":P})
c(o,f"SERVICE__IMAGE_TAGGED={R}\n",{"SERVICE__IMAGE_TAGGED":R})
c(o,f"{T}={R}\nSERVICE_APP_IMAGE_HASHED_OLD={P}\n",{T:R,H:N})
c(o,f"1A=2\n{T}={R}\n",{T:R,H:N,"1A":"2"})
c(o,f"{T} ={R}\n",{T:R,H:N})
c(o,f"{T}\t=\t{R}\n",{T:R,H:N})
# white space
w="white space"
c(w,f"{T}={R}   \n",{T:R,H:N})
c(w,f"{T}=\t{R}\n",{T:R,H:N})
c(w,f"   {T}={R}\n",{T:R,H:N})
c(w,f"{T}={R}\n\n\n{H}={P}\n",{T:R,H:P})
c(w,f"{T}=\u00a0{R}\n",{T:R,H:N}, note="a no-break space is white space for compose-go")
c(w,f"{T}={R}\u00a0\n",{T:R,H:N})
c(w,f"{T}={R}\x0c\n",{T:R,H:N})
json.dump(cases, open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "cases.json"), "w"), indent=1, ensure_ascii=True)
print(len(cases))
