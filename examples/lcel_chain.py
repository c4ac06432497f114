"""prompt | model | parser: a translation chain."""

from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate

from langchain_nebula import ChatNebula

prompt = ChatPromptTemplate.from_messages(
    [
        ("system", "Translate the user's text to {language}. Reply with the translation only."),
        ("human", "{text}"),
    ]
)
chain = prompt | ChatNebula(temperature=0) | StrOutputParser()
print(chain.invoke({"language": "French", "text": "Good morning, how are you?"}))
